"""Watch tests: the lab, an install pointed at it, ``watch`` in its own process, and a real Prometheus.

Everything listens on 127.0.0.1 (free ports), in processes the test starts and stops. The lab runs at
time_scale 0.01, so Ollama's 5 m default keep_alive is 3 s and watch's 60 s interval is 0.6 s.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess

SCALE = 0.01
CHAT = {
    "size_bytes": 4_400_000_000,
    "size_vram": 2_200_000_000,
    "load_seconds": 2.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 100.0,
}
MODEL = "qwen:7b"  # the fixture install's first Ollama chat model
MODELS = [{"name": MODEL, **CHAT}, {"name": "qwen2:7b", **CHAT}]
PROMETHEUS = shutil.which("prometheus")
STUB_CHATCHAT = Path(__file__).resolve().parent.parent / "doctor" / "stub_chatchat.py"
needs_watch_extra = pytest.mark.skipif(
    importlib.util.find_spec("prometheus_client") is None,
    reason="the watch extra is not installed: pip install '.[watch]'",
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not installed (Debian's prometheus package; scripts/test installs it)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(start_lab: Callable[..., LabProcess]) -> Callable[..., LabProcess]:
    def start(**kwargs: Any) -> LabProcess:
        return start_lab(**{"time_scale": SCALE, "models": MODELS, **kwargs})

    return start


@pytest.fixture
def chatchat() -> Iterator[Any]:
    """Chatchat's API stand-in (tests/doctor/stub_chatchat.py): ``GET /docs`` answers 200."""
    procs: list[subprocess.Popen[str]] = []

    def start(upstream: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, str(STUB_CHATCHAT), upstream, "0"], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None
        return int(proc.stdout.readline().split()[-1].rsplit(":", 1)[1])

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=5)


def make_install(tmp_path: Path, lab_url: str, *, api_port: int | None = None, name: str = "知识库") -> Path:
    """The 0.3.1 fixture under a Chinese folder name, pointed at the lab by ``apply`` (an applied record),
    Chatchat's API at ``api_port`` (else a port nobody listens on)."""
    root = tmp_path / name
    shutil.copytree(FIXTURES / "chatchat-0.3.1", root)
    basic = root / "basic_settings.yaml"
    basic.write_text(basic.read_text(encoding="utf-8").replace("7861", str(api_port or free_port())), "utf-8")
    run = run_cli("apply", "--root", str(root), "--set", f"ollama_url[ollama]={lab_url}/v1")
    assert run.code == 0, run.err
    return root


def load(lab: LabProcess, keep_alive: object = None) -> None:
    body: dict[str, object] = {"model": MODEL}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    httpx.post(lab.url + "/api/generate", json=body, timeout=30, trust_env=False).raise_for_status()


def unload(lab: LabProcess) -> None:
    load(lab, keep_alive=0)


def resident(lab: LabProcess) -> list[str]:
    data = httpx.get(lab.url + "/api/ps", timeout=5, trust_env=False).json()
    return [m["name"] for m in data["models"]]


class Watch:
    """``python -m tuner watch ...`` in its own process, serving on a free loopback port."""

    def __init__(self, root: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        env = {k: v for k, v in os.environ.items() if k.upper() != "CHATCHAT_ROOT"}
        self.err = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuner",
                "watch",
                "--root",
                str(root),
                "--listen",
                f"127.0.0.1:{self.port}",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=2, trust_env=False).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"watch did not start: {self.stderr()}")
            time.sleep(0.1)

    def stderr(self) -> str:
        self.err.seek(0)
        return str(self.err.read())

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.url, timeout=5, trust_env=False).text
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def value(self, name: str, **labels: str) -> float | None:
        for (n, ls), v in self.metrics().items():
            if n == name and set(labels.items()) <= ls:
                return v
        return None

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Ctrl-C, as a user stops it (exit 130), or SIGTERM, as systemd does (exit 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return int(self.proc.returncode)


@pytest.fixture
def watch() -> Iterator[Any]:
    started: list[Watch] = []

    def start(root: Path, *args: str) -> Watch:
        w = Watch(root, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
        w.err.close()


class Prometheus:
    """A real Prometheus server: temp config and data, a free loopback port, short scrape interval."""

    def __init__(self, targets: list[str], rules: Path | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="prom-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = [
            "global:",
            "  scrape_interval: 1s",
            "  evaluation_interval: 1s",
        ]
        if rules is not None:
            config += ["rule_files:", f"  - {rules}"]
        config += [
            "scrape_configs:",
            "  - job_name: chatchat-tune",
            "    static_configs:",
            f"      - targets: [{', '.join(repr(t) for t in targets)}]",
        ]
        (self.dir / "prometheus.yml").write_text("\n".join(config) + "\n", encoding="utf-8")
        self.log = open(self.dir / "log.txt", "w", encoding="utf-8")  # noqa: SIM115
        assert PROMETHEUS is not None
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/-/ready", timeout=2, trust_env=False).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "prometheus did not start: " + (self.dir / "log.txt").read_text()[-2000:]
                )
            time.sleep(0.2)

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10, trust_env=False)
        data = r.json()
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def firing(self) -> set[str]:
        data = httpx.get(self.url + "/api/v1/alerts", timeout=10, trust_env=False).json()
        return {a["labels"]["alertname"] for a in data["data"]["alerts"] if a["state"] == "firing"}

    def wait_for(self, what: str, check: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def prometheus() -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(targets: list[str], rules: Path | None = None) -> Prometheus:
        p = Prometheus(targets, rules)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
