"""The code patch, proved against real Chatchat 0.3.1.3 with the lab as its Ollama.

The shared Chatchat venv is never modified: each test copies the installed ``chatchat`` package folder into
its tmp dir and puts that folder first on PYTHONPATH for every Chatchat process it starts (and for
``locate``), so only the copy is patched. The rest of the venv (dependencies, dist-info, the ``chatchat``
command) is the real one.

One workload, run the same way against the shipped and the patched package, with the same settings
(``HTTPX_DEFAULT_TIMEOUT: 3``, ``api_concurrencies: 2``, ``api_max_retries: 1``):
sequential requests → lab ``connections_opened``; 6 concurrent requests → the model's ``max_in_flight``;
a hung backend → how long until Chatchat answers.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chatchat_real as cr
import httpx
import pytest

from tuner.apply.rollback import rollback
from tuner.apply.writer import FileWrite, apply_writes
from tuner.codepatch import NEW_PLATFORM_KEYS, ChatchatPackage, locate, patch_state, plan_patch
from tuner.edit.paths import Match, ValuePath
from tuner.edit.yamlconfig import set_values
from tuner.lab.process import LabProcess

pytestmark = pytest.mark.chatchat

MODEL = "qwen2:7b"
CHAT_ROUTE = "POST /v1/chat/completions"
TIMEOUT = 3.0  # HTTPX_DEFAULT_TIMEOUT
RETRIES = 1  # api_max_retries
CONCURRENCIES = 2  # api_concurrencies
SEQUENTIAL = 8
PARALLEL = 6


@dataclass(frozen=True)
class PackageCopy:
    pkg: ChatchatPackage
    env: dict[str, str]  # extra environment for Chatchat's processes: the copy first on PYTHONPATH


def copy_package(venv: Path, dest: Path) -> PackageCopy:
    shipped = locate(cr.venv_python(venv), env=cr.offline_env())
    shutil.copytree(shipped.folder, dest / "chatchat", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(dest)}
    pkg = locate(cr.venv_python(venv), env=cr.offline_env(extra=env))
    assert pkg.folder == dest / "chatchat"  # Chatchat's processes will import the copy
    return PackageCopy(pkg, env)


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, except the bytecode caches Python rewrites on its own."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def configure(root: Path, lab_url: str, settings: Mapping[str, object] | None = None) -> None:
    """Loopback-only root on the lab; then the patch's settings written with the project's YAML editor."""
    cr.loopback_platforms(
        root,
        f"{lab_url}/v1",
        llm_models=(MODEL,),
        embed_models=("quentinz/bge-large-zh-v1.5:latest",),
        api_port=cr.free_port(),
    )
    if settings is None:
        return
    entry: ValuePath = ("MODEL_PLATFORMS", Match("platform_name", "ollama"))
    comments: dict[ValuePath, str] = {(*entry, key): comment for key, _default, comment in NEW_PLATFORM_KEYS}
    models = root / "model_settings.yaml"
    changes: dict[ValuePath, object] = {
        (*entry, key): value for key, value in settings.items() if key != "HTTPX_DEFAULT_TIMEOUT"
    }
    models.write_text(
        set_values(
            models.read_text(encoding="utf-8"),
            changes,
            create=True,
            comments={k: v for k, v in comments.items() if k in changes},
        ),
        encoding="utf-8",
    )
    if "HTTPX_DEFAULT_TIMEOUT" in settings:
        basic = root / "basic_settings.yaml"
        text = set_values(
            basic.read_text(encoding="utf-8"), {("HTTPX_DEFAULT_TIMEOUT",): settings["HTTPX_DEFAULT_TIMEOUT"]}
        )
        basic.write_text(text, encoding="utf-8")


SETTINGS: dict[str, object] = {
    "HTTPX_DEFAULT_TIMEOUT": TIMEOUT,
    "api_concurrencies": CONCURRENCIES,
    "api_max_retries": RETRIES,
    "api_keepalive_expiry": 30.0,
}


def chat(client: httpx.Client, base: str, text: str) -> httpx.Response:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "stream": False,
        "max_tokens": 16,
    }
    return client.post(f"{base}/chat/chat/completions", json=body)


def answered(reply: httpx.Response) -> bool:
    if reply.status_code != 200:
        return False
    data = reply.json()
    return bool(data.get("choices")) and bool(data["choices"][0]["message"]["content"])


@dataclass(frozen=True)
class Observed:
    sequential_ok: int
    sequential_connections: int
    parallel_ok: int
    parallel_max_in_flight: int
    hang_seconds: float
    hang_status: int | None  # None: our client gave up first
    hang_attempts: int  # chat requests the lab received while hanging


def run_workload(lab: LabProcess, base: str, client_timeout: float) -> Observed:
    with httpx.Client(trust_env=False, timeout=60) as client:
        assert answered(chat(client, base, "warm up: load the model")), "Chatchat did not answer"
        lab.reset()
        seq_ok = sum(
            answered(chat(client, base, f"question {i}: why is the sky blue?")) for i in range(SEQUENTIAL)
        )
        seq_conns = lab.stats()["connections_opened"]

    lab.reset()

    def one(i: int) -> bool:
        with httpx.Client(trust_env=False, timeout=60) as c:
            return answered(chat(c, base, f"parallel question {i}"))

    with ThreadPoolExecutor(PARALLEL) as pool:
        par_ok = sum(pool.map(one, range(PARALLEL)))
    par_max = lab.stats()["models"][MODEL]["max_in_flight"]

    lab.set_faults(hang=1.0)
    lab.reset()
    t0 = time.monotonic()
    status: int | None
    try:
        with httpx.Client(trust_env=False, timeout=client_timeout) as client:
            status = chat(client, base, "this one hangs").status_code
    except httpx.TimeoutException:
        status = None
    seconds = time.monotonic() - t0
    attempts = lab.stats()["requests"].get(CHAT_ROUTE, 0)
    lab.set_faults()
    return Observed(seq_ok, seq_conns, par_ok, par_max, seconds, status, attempts)


@pytest.fixture
def lab() -> Iterator[LabProcess]:
    # cpu-7b at 1/20 speed: a 0.3 s load and ~0.1 s per 16-token answer, one request at a time (like
    # OLLAMA_NUM_PARALLEL=1), so concurrent requests pile up at the lab unless Chatchat bounds them.
    with LabProcess(profile="cpu-7b", time_scale=0.05, seed=3) as server:
        yield server


def test_chatchat_keeps_the_new_platform_keys(chatchat_venv: Path, chatchat_root: Path) -> None:
    """PlatformConfig allows extra fields: the keys the patch reads reach Chatchat's settings as written."""
    configure(chatchat_root, "http://127.0.0.1:9", SETTINGS)
    data = cr.load_settings(chatchat_venv, chatchat_root)
    (platform,) = data["model_settings"]["MODEL_PLATFORMS"]
    assert platform["api_concurrencies"] == CONCURRENCIES
    assert platform["api_max_retries"] == RETRIES
    assert platform["api_keepalive_expiry"] == 30.0
    assert data["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] == TIMEOUT


def test_shipped_chatchat_ignores_the_settings(
    chatchat_venv: Path, chatchat_root: Path, lab: LabProcess, tmp_path: Path
) -> None:
    """The baseline the patch fixes (a copy of the package, unpatched: the same setup as the next test)."""
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    assert patch_state(copy.pkg).state == "absent"
    configure(chatchat_root, lab.url, SETTINGS)
    with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env) as base:
        seen = run_workload(lab, base, client_timeout=8.0)
    print(seen)
    assert seen.sequential_ok == SEQUENTIAL
    assert seen.sequential_connections >= SEQUENTIAL  # a new connection per request
    assert seen.parallel_ok == PARALLEL
    assert seen.parallel_max_in_flight > CONCURRENCIES  # api_concurrencies is not applied
    assert seen.hang_status is None  # HTTPX_DEFAULT_TIMEOUT: 3 did not bound the call within 8 s
    assert seen.hang_attempts == 1


def test_patched_chatchat_reuses_connections_bounds_time_and_concurrency(
    chatchat_venv: Path, chatchat_root: Path, lab: LabProcess, tmp_path: Path
) -> None:
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    for path, _before, after in plan_patch(copy.pkg):
        path.write_bytes(after)
    assert patch_state(copy.pkg).state == "applied"
    configure(chatchat_root, lab.url, SETTINGS)
    with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env) as base:
        seen = run_workload(lab, base, client_timeout=60.0)
        with httpx.Client(trust_env=False, timeout=60) as client:
            assert answered(chat(client, base, "after the hang")), "no answer once the backend recovered"
    print(seen)
    assert seen.sequential_ok == SEQUENTIAL
    assert seen.sequential_connections <= 2  # one pooled connection, reused
    assert seen.parallel_ok == PARALLEL  # the others queued; none was refused
    assert 1 <= seen.parallel_max_in_flight <= CONCURRENCIES
    # A hung backend: (retries + 1) attempts of TIMEOUT each, plus openai's short back-off, then an error.
    assert seen.hang_status is not None and seen.hang_status >= 500
    assert seen.hang_attempts == RETRIES + 1
    assert TIMEOUT * (RETRIES + 1) <= seen.hang_seconds < 20.0


def test_rollback_restores_the_package_and_chatchat_answers_again(
    chatchat_venv: Path, chatchat_root: Path, lab: LabProcess, tmp_path: Path
) -> None:
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    original = tree_hashes(copy.pkg.folder)
    state_root = tmp_path / "state"
    state_root.mkdir()  # the install root exists; the tool never creates it
    writes = [FileWrite(path, before, after) for path, before, after in plan_patch(copy.pkg)]
    assert len(writes) == 1
    backup = apply_writes(state_root, writes, "chatchat code patch")
    assert patch_state(copy.pkg).state == "applied"
    assert tree_hashes(copy.pkg.folder) != original
    configure(chatchat_root, lab.url)

    def sequential_connections(env: dict[str, str]) -> int:
        with (
            cr.chatchat_api(chatchat_root, chatchat_venv, env=env) as base,
            httpx.Client(trust_env=False, timeout=60) as client,
        ):
            assert answered(chat(client, base, "warm up"))
            lab.reset()
            for i in range(3):
                assert answered(chat(client, base, f"question {i}"))
            n: int = lab.stats()["connections_opened"]
            return n

    assert sequential_connections(copy.env) <= 1  # the patched package ran (and left its bytecode)

    restored = rollback(state_root)
    assert restored.backup.folder == backup.folder
    assert tree_hashes(copy.pkg.folder) == original  # byte-identical
    assert patch_state(copy.pkg).state == "absent"
    assert sequential_connections(copy.env) >= 3  # the shipped code runs again, stale bytecode ignored
