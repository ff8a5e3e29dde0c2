"""Several users: the space's new dimensions, their memory against --memory-budget, the multi-user trial
on the lab, `search --users`, and apply writing api_concurrencies (settings file) and service variables."""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess
from tuner.lab.profiles import QWEN2_7B_KV
from tuner.measure.workload import draw_gaps
from tuner.search.session import lab_time_scale
from tuner.search.space import Facts, build_space, resident_gb
from tuner.search.study import result_of
from tuner.search.trial import Target, evaluate
from tuner.search.users import UserTarget, restore_server, slot_settings, with_users

SLOT = 4096 * QWEN2_7B_KV
GB = 1_000_000_000


def _facts(**kw: object) -> Facts:
    base = {
        "generation": "0.3.1",
        "host": "127.0.0.1",
        "reuse": True,
        "cold_load": 2.5,
        "answer": 10.0,
        "model_bytes": 4_400_000_000,
        "current_timeout": 600.0,
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def test_the_space_gains_pool_slots_and_loaded_models_with_users() -> None:
    one = build_space(_facts())
    assert "num_parallel" not in [d.name for d in one.dimensions]
    many = build_space(_facts(users=6, server_settable=True, slot_bytes=SLOT, embed_bytes=671_000_000))
    names = [d.name for d in many.dimensions]
    assert names == [
        "keep_alive",
        "keepalive_expiry",
        "api_concurrencies",
        "num_parallel",
        "max_loaded_models",
    ]
    assert len(names) >= 4
    assert (
        many.baseline()["api_concurrencies"] == 5
        and 5 in dict((d.name, d.choices) for d in many.dimensions)["api_concurrencies"]
    )
    # as shipped, api_concurrencies is not honoured: not a dimension, and the pool stays httpx's 100
    shipped = build_space(_facts(reuse=False, users=6, server_settable=True, slot_bytes=SLOT))
    assert [d.name for d in shipped.dimensions] == ["keep_alive", "num_parallel"]
    assert shipped.config({"keep_alive": "5m", "num_parallel": 4}).max_connections == 100
    # a real Ollama's service cannot be restarted per trial: no slot dimensions there
    real = build_space(_facts(users=6, server_settable=False))
    assert [d.name for d in real.dimensions] == ["keep_alive", "keepalive_expiry", "api_concurrencies"]


def test_memory_counts_context_times_slots_and_the_embedding_model() -> None:
    space = build_space(_facts(users=4, server_settable=True, slot_bytes=SLOT, embed_bytes=671_000_000))
    gaps = draw_gaps(20.0, 2000, 1)
    one = space.config({"keep_alive": "-1", "num_parallel": 1, "max_loaded_models": 1})
    eight = space.config({"keep_alive": "-1", "num_parallel": 8, "max_loaded_models": 1})
    both = space.config({"keep_alive": "-1", "num_parallel": 8, "max_loaded_models": 2})
    assert resident_gb(one, gaps, 4_400_000_000) == pytest.approx((4_400_000_000 + SLOT) / GB)
    assert resident_gb(eight, gaps, 4_400_000_000) - resident_gb(one, gaps, 4_400_000_000) == pytest.approx(
        7 * SLOT / GB
    )
    assert resident_gb(both, gaps, 4_400_000_000) - resident_gb(eight, gaps, 4_400_000_000) == pytest.approx(
        0.671
    )
    # several users: the resident size itself, whatever the keep_alive (requests overlap; the box holds it)
    ten_min = draw_gaps(600.0, 2000, 1)
    alone = build_space(_facts()).config({"keep_alive": "1m"})
    crowd = build_space(_facts(users=8, server_settable=True, slot_bytes=SLOT)).config({"keep_alive": "0"})
    assert resident_gb(alone, ten_min, 4_400_000_000) < 0.5
    assert resident_gb(crowd, ten_min, 4_400_000_000) == pytest.approx(4.4 + SLOT / GB)


def test_the_winner_s_slots_and_pool_become_settings_where_they_take_effect() -> None:
    facts = _facts(users=6, server_settable=True, slot_bytes=SLOT, embed_bytes=671_000_000)
    space = build_space(facts)
    base = space.config(space.baseline(), baseline=True)
    win = space.config(
        {"keep_alive": "-1", "api_concurrencies": 4, "num_parallel": 4, "max_loaded_models": 2}
    )
    settings, reasons = slot_settings(win, base, facts, "ollama")
    assert {(s.knob, s.entry, s.value) for s in settings} == {
        ("api_concurrencies", "ollama", 4),
        ("num_parallel", None, 4),
        ("max_loaded_models", None, 2),
    }
    assert any("OLLAMA_NUM_PARALLEL 1 → 4" in r and "/api/ps" in r for r in reasons)


@pytest.fixture(scope="module")
def gpu_lab() -> Iterator[LabProcess]:
    with LabProcess("gpu-7b", time_scale=0.05) as lab:
        yield lab


def test_users_trial_on_the_lab_slots_beat_a_queue(gpu_lab: LabProcess) -> None:
    root = gpu_lab.url
    facts = with_users(_facts(), root, "qwen2:7b", UserTarget(6))
    assert facts.server_settable and facts.slot_bytes == SLOT  # measured from /api/ps: 1 slot vs 2
    space = build_space(facts)
    target = Target(root, "qwen2:7b", lab_time_scale(root), max_tokens=64, users=6, server_settable=True)
    gaps = draw_gaps(0.5, 6 * 4, 0)  # 6 users, ~1 s answers: one slot is overloaded
    queue = evaluate(
        target, space.config({"keep_alive": "-1", "api_concurrencies": 8, "num_parallel": 1}), gaps
    )
    slots = evaluate(
        target, space.config({"keep_alive": "-1", "api_concurrencies": 8, "num_parallel": 8}), gaps
    )
    assert queue.errors == 0 and slots.errors == 0 and len(slots.totals) == 24
    # 6 users on one slot queue; eight slots share the GPU instead (medians: robust on a busy machine)
    assert statistics.median(slots.totals) < statistics.median(queue.totals)
    pool = evaluate(
        target, space.config({"keep_alive": "-1", "api_concurrencies": 1, "num_parallel": 8}), gaps
    )
    assert statistics.median(pool.totals) > statistics.median(slots.totals)  # one connection: a queue again
    restore_server(target, facts, "127.0.0.1")
    assert set_server_now(root) == (1, 3)  # the service as it was


def set_server_now(root: str) -> tuple[int, int]:
    import httpx

    now = httpx.post(root + "/lab/server", json={}, trust_env=False).json()
    return now["num_parallel"], now["max_loaded_models"]


@pytest.fixture
def root(tmp_path: Path, gpu_lab: LabProcess) -> Path:
    dest = tmp_path / "chatchat"
    shutil.copytree(FIXTURES / "chatchat-0.3.1", dest)
    run = run_cli("apply", "--root", str(dest), "--set", f"ollama_url=http://127.0.0.1:{gpu_lab.port}/v1")
    assert run.code == 0, run.err
    return dest


def test_search_users_explores_slots_within_the_memory_budget(root: Path, tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 's.db'}"
    plan = tmp_path / "plan.json"
    run = run_cli(
        "search",
        "--root",
        str(root),
        "--trials",
        "12",
        "--users",
        "6",
        "--idle-gap",
        "1s",
        "--requests-per-trial",
        "4",
        "--max-tokens",
        "64",
        "--memory-budget",
        "15",
        "--storage",
        storage,
        "--out",
        str(plan),
    )
    assert run.code == 0, run.err
    study = optuna.load_study(study_name="chatchat-tune", storage=storage)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert trials[0].params == {"keep_alive": "5m", "num_parallel": 1}  # today's settings first
    assert all(len(result_of(t)["totals_ms"]) == 24 for t in trials)  # 6 users × 4 requests each
    # the fixture's qwen:7b: 4.5 GB of weights and 2.1 GB of context per slot (from /api/ps): 8 slots
    # (21.7 GB) break a 15 GB budget, 4 slots (13.1 GB) fit
    for t in trials:
        assert result_of(t)["resident_gb"] == pytest.approx(4.5 + t.params["num_parallel"] * 2.147, abs=0.01)
        assert (t.constraints["memory_gb"] > 0) == (t.params["num_parallel"] == 8)
    knobs = {s["knob"]: s["value"] for s in json.loads(plan.read_text(encoding="utf-8"))["settings"]}
    assert knobs.get("num_parallel", 1) != 8 and "api_concurrencies" not in knobs  # ignored as shipped


def test_apply_writes_api_concurrencies_in_the_settings_file(root: Path) -> None:
    from tuner.install.loading import open_install
    from tuner.plan.build import build_plan

    facts = _facts(users=6, server_settable=True, slot_bytes=SLOT, embed_bytes=671_000_000)
    space = build_space(facts)
    base = space.config(space.baseline(), baseline=True)
    win = space.config(
        {"keep_alive": "-1", "api_concurrencies": 2, "num_parallel": 4, "max_loaded_models": 2}
    )
    settings, _ = slot_settings(win, base, facts, "ollama")
    plan = build_plan(open_install(root), settings)
    (changed,) = [f for f in plan.files if f.before != f.after]
    assert changed.file.path.name == "model_settings.yaml"
    assert b"api_concurrencies: 2" in changed.after
    assert dict(plan.service) == {"OLLAMA_NUM_PARALLEL": "4", "OLLAMA_MAX_LOADED_MODELS": "2"}


def test_bad_workload_options_are_refused_before_measuring(root: Path, tmp_path: Path) -> None:
    both = run_cli("search", "--root", str(root), "--users", "2", "--rate", "1")
    assert both.code == 1 and "--users and --rate" in both.err
    slo = run_cli("search", "--root", str(root), "--slo", "5s")
    assert slo.code == 1 and "--slo" in slo.err and "--users" in slo.err
    traffic = tmp_path / "t.csv"
    traffic.write_text("host,code\na,200\n", encoding="utf-8")
    bad = run_cli("search", "--root", str(root), "--traffic", str(traffic))
    assert bad.code == 1 and f"{traffic}: line 1: no time column" in bad.err


@pytest.mark.parametrize(
    ("workload", "unit"),
    [(["--users", "4", "--idle-gap", "1s"], "users"), (["--rate", "2"], "requests/s")],
)
def test_slo_sizes_the_box(root: Path, tmp_path: Path, workload: list[str], unit: str) -> None:
    run = run_cli(
        "search",
        "--root",
        str(root),
        "--trials",
        "4",
        *workload,
        "--requests-per-trial",
        "4",
        "--max-tokens",
        "32",
        "--slo",
        "30s",
        "--storage",
        f"sqlite:///{tmp_path / 's.db'}",
        "--out",
        str(tmp_path / "plan.json"),
    )
    assert run.code == 0, run.err
    (line,) = [x for x in run.out.splitlines() if x.startswith("sizing: ")]
    assert f" {unit} at p95 <= 30 s" in line or line.startswith("sizing: no load tried")
    steps = [x for x in run.out.splitlines() if x.startswith("  ") and ": p95 " in x and "failed" in x]
    assert 1 <= len(steps) <= 12


def test_traffic_replay_is_an_open_loop_trial(gpu_lab: LabProcess) -> None:
    root = gpu_lab.url
    times = (0.0, 0.1, 0.2, 0.3, 5.0, 5.1)
    target = Target(
        root,
        "qwen2:7b",
        lab_time_scale(root),
        max_tokens=16,
        open_loop=True,
        arrivals=times,
        server_settable=True,
    )
    facts = with_users(_facts(), root, "qwen2:7b", UserTarget(1, open_loop=True, arrivals=times))
    space = build_space(facts)
    assert "num_parallel" in [d.name for d in space.dimensions]  # arrivals overlap: slots matter
    result = evaluate(
        target, space.config({"keep_alive": "-1", "api_concurrencies": 4, "num_parallel": 4}), (0.0,) * 6
    )
    assert result.errors == 0 and len(result.totals) == 6
    restore_server(target, facts, "127.0.0.1")
