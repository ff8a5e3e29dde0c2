"""Helpers to drive a real Langchain-Chatchat 0.3.1.3 from tests: venv, init, settings, API server.

Chatchat lives in its own venv (made by ``scripts/setup-chatchat``); everything here talks to it through
subprocesses, on loopback only.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-chatchat"
SETTINGS_GROUPS = ("basic_settings", "kb_settings", "model_settings", "tool_settings", "prompt_settings")
SETTINGS_FILES = tuple(f"{g}.yaml" for g in SETTINGS_GROUPS)
LOOPBACK = "127.0.0.1"
_LOOPBACK_PREFIXES = ("http://127.0.0.1", "http://localhost", "http://[::1]")


def _setup_module() -> ModuleType:
    """The setup script as a module: one source of truth for the venv path and the offline environment."""
    loader = importlib.machinery.SourceFileLoader("_setup_chatchat", str(SETUP_SCRIPT))
    spec = importlib.util.spec_from_loader("_setup_chatchat", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


_SETUP = _setup_module()
CHATCHAT_VERSION: str = _SETUP.CHATCHAT_VERSION


def venv_path() -> Path:
    return Path(_SETUP.cache_dir()) / "venv"


def venv_python(venv: Path) -> Path:
    return Path(_SETUP.venv_python(venv))


def chatchat_exe(venv: Path) -> Path:
    return venv / ("Scripts/chatchat.exe" if os.name == "nt" else "bin/chatchat")


def offline_env(root: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Chatchat children: no proxy variables, loopback exempt, CHATCHAT_ROOT set."""
    more = dict(extra or {})
    if root is not None:
        more["CHATCHAT_ROOT"] = str(root)
    env: dict[str, str] = _SETUP.offline_env(more)
    return env


def run_tuner(*args: str) -> subprocess.CompletedProcess[str]:
    """The project's CLI as a user runs it: `python -m tuner ...` from the project venv, offline."""
    return subprocess.run(
        [sys.executable, "-m", "tuner", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env=offline_env(),
    )


def ensure_venv(timeout: float = 1800) -> Path:
    """Return the Chatchat venv, running the setup script when its marker is missing (minutes, once)."""
    proc = subprocess.run(
        [sys.executable, str(SETUP_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/setup-chatchat failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def init_root(venv: Path, root: Path, timeout: float = 120) -> Path:
    """A real ``chatchat init`` into root (no KB rebuild, no network)."""
    root.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(chatchat_exe(venv)), "init"],
        env=offline_env(root),
        cwd=str(root),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0 or not (root / "model_settings.yaml").is_file():
        raise RuntimeError(
            f"chatchat init failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return root


def copy_root(pristine: Path, dest: Path) -> Path:
    """Copy an init'd root to dest, as if ``chatchat init`` had run there.

    ``chatchat init`` writes absolute paths (KB_ROOT_PATH, DB_ROOT_PATH, SQLALCHEMY_DATABASE_URI) into
    basic_settings.yaml, folded onto a second line when long (ruamel's 80-column width). They are
    re-pointed into dest and the file re-dumped the way Chatchat dumps it, so the copy is byte-identical
    to a fresh init at dest.
    """
    shutil.copytree(pristine, dest, dirs_exist_ok=True)
    for log in (dest / "data" / "logs").glob("*"):
        if log.is_file():
            log.unlink()

    def repoint(data: CommentedMap) -> None:
        for key in _ROOT_PATH_KEYS:
            data[key] = str(data[key]).replace(str(pristine), str(dest))

    _edit_yaml(dest / "basic_settings.yaml", repoint, width=None)
    return dest


_DUMP_SNIPPET = f"""
import json, sys
GROUPS = {SETTINGS_GROUPS!r}
from chatchat.settings import Settings
out = {{}}
for name in GROUPS:
    out[name] = getattr(Settings, name).model_dump(mode="json")
sys.stdout.write("\\n@@SETTINGS@@" + json.dumps(out, sort_keys=True, ensure_ascii=False) + "\\n")
"""


def load_settings(venv: Path, root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every settings group as Chatchat's own loader (``chatchat.settings.Settings``) sees it, as JSON data.

    ``env`` adds environment variables, which Chatchat reads as overrides of the YAML files.
    """
    proc = subprocess.run(
        [str(venv_python(venv)), "-c", _DUMP_SNIPPET],
        env=offline_env(root, env),
        cwd=str(root),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@SETTINGS@@"):
            data: dict[str, Any] = json.loads(line[len("@@SETTINGS@@") :])
            return data
    raise RuntimeError(f"loading Chatchat settings failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


_ROOT_PATH_KEYS = ("KB_ROOT_PATH", "DB_ROOT_PATH", "SQLALCHEMY_DATABASE_URI")


def run_python(venv: Path, root: Path, code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run code with the Chatchat venv's python, CHATCHAT_ROOT=root, offline environment."""
    return subprocess.run(
        [str(venv_python(venv)), "-c", code],
        env=offline_env(root),
        cwd=str(root),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def _yaml(width: int | None = 4096) -> YAML:
    """A round-trip YAML set up as Chatchat's own dumper (pass width=None for its default 80 columns)."""
    yaml = YAML()
    yaml.map_indent = 2
    yaml.sequence_indent = 4
    yaml.sequence_dash_offset = 2
    if width is not None:
        yaml.width = width
    return yaml


def _edit_yaml(path: Path, edit: Callable[[CommentedMap], None], width: int | None = 4096) -> None:
    yaml = _yaml(width)
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh)
    edit(data)
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def _flow_list(items: Sequence[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    if not items:
        seq.fa.set_flow_style()
    return seq


def loopback_platforms(
    root: Path,
    ollama_url: str,
    llm_models: Sequence[str] = ("qwen2:7b",),
    embed_models: Sequence[str] = ("bge-m3",),
    api_port: int | None = None,
) -> None:
    """Point an init'd root at one loopback Ollama platform and bind every server to 127.0.0.1.

    MODEL_PLATFORMS becomes a single ``ollama`` entry (auto_detect_model false; no xinference, oneapi or
    public OpenAI endpoint left), DEFAULT_LLM_MODEL its first model; API_SERVER/WEBUI_SERVER bind 127.0.0.1.
    """
    if not ollama_url.startswith(_LOOPBACK_PREFIXES):
        raise ValueError(f"not a loopback URL: {ollama_url}")

    def edit_models(data: CommentedMap) -> None:
        entry = CommentedMap()
        entry["platform_name"] = "ollama"
        entry["platform_type"] = "ollama"
        entry["api_base_url"] = ollama_url
        entry["api_key"] = "EMPTY"
        entry["api_proxy"] = ""
        entry["api_concurrencies"] = 5
        entry["auto_detect_model"] = False
        entry["llm_models"] = _flow_list(list(llm_models))
        entry["embed_models"] = _flow_list(list(embed_models))
        for kind in ("text2image", "image2text", "rerank", "speech2text", "text2speech"):
            entry[f"{kind}_models"] = _flow_list([])
        data["MODEL_PLATFORMS"] = CommentedSeq([entry])
        if llm_models:
            data["DEFAULT_LLM_MODEL"] = llm_models[0]
        if embed_models:
            data["DEFAULT_EMBEDDING_MODEL"] = embed_models[0]

    def edit_basic(data: CommentedMap) -> None:
        data["DEFAULT_BIND_HOST"] = LOOPBACK
        data["API_SERVER"]["host"] = LOOPBACK
        data["API_SERVER"]["public_host"] = LOOPBACK
        if api_port is not None:
            data["API_SERVER"]["port"] = api_port
            data["API_SERVER"]["public_port"] = api_port
        data["WEBUI_SERVER"]["host"] = LOOPBACK

    _edit_yaml(root / "model_settings.yaml", edit_models)
    _edit_yaml(root / "basic_settings.yaml", edit_basic)


def assert_loopback_only(root: Path) -> None:
    """Refuse a root whose model platforms could reach past loopback (run ``loopback_platforms`` first)."""
    with (root / "model_settings.yaml").open(encoding="utf-8") as fh:
        models = _yaml().load(fh)
    for entry in models["MODEL_PLATFORMS"]:
        url = str(entry.get("api_base_url", ""))
        if not url.startswith(_LOOPBACK_PREFIXES) or entry.get("auto_detect_model") or entry.get("api_proxy"):
            raise RuntimeError(
                f"{root}: platform {entry.get('platform_name')!r} is not loopback-only ({url})"
            )
    with (root / "basic_settings.yaml").open(encoding="utf-8") as fh:
        basic = _yaml().load(fh)
    for server in ("API_SERVER", "WEBUI_SERVER"):
        if basic[server]["host"] != LOOPBACK:
            raise RuntimeError(f"{root}: {server} binds {basic[server]['host']}, not {LOOPBACK}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def api_port(root: Path) -> int:
    with (root / "basic_settings.yaml").open(encoding="utf-8") as fh:
        data = _yaml().load(fh)
    return int(data["API_SERVER"]["port"])


def popen_group_kwargs() -> dict[str, Any]:
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
    return {"start_new_session": True}


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Terminate a process started in its own group, then kill the whole group."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, check=False)
        proc.wait(timeout=grace)
        return
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Chatchat's API server runs in a spawned child (and a multiprocessing manager): take them all.
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def _tail(path: Path, n: int = 6000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return "(no log)"


def wait_http(url: str, proc: subprocess.Popen[Any] | None, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before answering:\n{_tail(log)}")
            try:
                client.get(url)
                return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from {url} within {timeout:.0f} s; log tail:\n{_tail(log)}")
            time.sleep(0.2)


@contextlib.contextmanager
def chatchat_api(
    root: Path,
    venv: Path,
    timeout: float = 90.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run ``chatchat start --api`` for root in its own process group; yield its base URL.

    The root must already be loopback-only (see ``loopback_platforms``). Stops the server and every child
    on exit. The server's combined output goes to ``root/chatchat-api.log``.
    """
    assert_loopback_only(root)
    port = api_port(root)
    base = f"http://{LOOPBACK}:{port}"
    log = root / "chatchat-api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(chatchat_exe(venv)), "start", "--api"],
            env=offline_env(root, env),
            cwd=str(root),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            **popen_group_kwargs(),
        )
    try:
        wait_http(f"{base}/docs", proc, log, timeout)
        yield base
    finally:
        stop_group(proc)


STUB_SCRIPT = Path(__file__).resolve().parent / "stub_openai.py"


@dataclass(frozen=True)
class Backend:
    """An OpenAI-compatible backend on loopback: its /v1 base URL and where it reports what it saw."""

    base_url: str
    stats_url: str

    def stats(self) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=10) as client:
            data: dict[str, Any] = client.get(self.stats_url).raise_for_status().json()
            return data


@contextlib.contextmanager
def stub_backend(log: Path) -> Iterator[Backend]:
    """Run stub_openai.py in its own process group on a free loopback port."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(STUB_SCRIPT), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=offline_env(),
            **popen_group_kwargs(),
        )
    base = f"http://{LOOPBACK}:{port}"
    try:
        wait_http(f"{base}/stub/stats", proc, log, timeout=20)
        yield Backend(base_url=f"{base}/v1", stats_url=f"{base}/stub/stats")
    finally:
        stop_group(proc, grace=5)
