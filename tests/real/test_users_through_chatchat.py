"""Several users, re-measured through real Chatchat 0.3.1.3 (code patch applied) beside the direct figure.

`search --users` on an install whose Chatchat API answers: after the study, the winner is played again with
the same users, gaps and prompts, once directly against Ollama (the lab) and once through Chatchat's
``/chat/chat/completions``; the verdict names the path each figure measured. The shared Chatchat venv is
never modified: a copy of the package, patched, is first on PYTHONPATH (as in test_codepatch.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import chatchat_real as cr
import pytest
from test_codepatch import configure, copy_package

from tuner.codepatch import patch_state, plan_patch
from tuner.lab.process import LabProcess
from tuner.search.run import SearchRequest, run_search

pytestmark = pytest.mark.chatchat

USERS = 4


@pytest.fixture
def lab() -> Iterator[LabProcess]:
    with LabProcess(profile="gpu-7b", time_scale=0.05, seed=5) as server:
        yield server


def test_search_users_remeasures_the_winner_through_chatchat(
    chatchat_venv: Path,
    chatchat_root: Path,
    lab: LabProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    for path, _before, after in plan_patch(copy.pkg):
        path.write_bytes(after)
    assert patch_state(copy.pkg).state == "applied"
    configure(chatchat_root, lab.url, {"api_concurrencies": 4, "api_keepalive_expiry": 30.0})
    monkeypatch.setenv("PYTHONPATH", copy.env["PYTHONPATH"])  # the tool reads the copy's patch state too
    with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env):
        lab.reset()
        searched = run_search(
            SearchRequest(
                root=chatchat_root,
                python=cr.venv_python(chatchat_venv),
                mean_gap=2.0,
                requests_per_trial=3,
                trials=6,
                storage=f"sqlite:///{tmp_path / 's.db'}",
                users=USERS,
                max_tokens=32,
            )
        )
        through_chatchat = lab.stats()["requests"].get("POST /v1/chat/completions", 0)
    through = searched.through
    assert through is not None, "Chatchat answered: the winner must be re-measured through it"
    assert through.patched  # the tool read the copy's state: the code patch is in
    lines = through.lines()
    for line in lines:
        print(line)
    assert lines[0].startswith("direct: the tool's client → Ollama")
    assert lines[1].startswith(f"through Chatchat: {through.chatchat_api}/chat/chat/completions")
    assert "its code patch applied" in lines[1]
    assert through.direct.errors == 0 and through.chatchat.errors == 0
    assert len(through.chatchat.totals) == USERS * 3 == len(through.direct.totals)
    assert math.isfinite(through.chatchat.p95) and math.isfinite(through.direct.p95)
    # Chatchat really carried them to the lab (it calls Ollama's /v1; the tool's own direct trials do too,
    # so at least the Chatchat ones are there)
    assert through_chatchat >= USERS * 3
