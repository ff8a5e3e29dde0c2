"""``LabProcess``: the lab in its own process, for tests, benchmarks, ``doctor`` and the demo.

with LabProcess(profile="tiny", time_scale=0.01, faults={"connect_delay": 2}) as lab:
    httpx.get(lab.url + "/api/tags")
    lab.stats()
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tuner.errors import UserError

_URL = re.compile(r"(http://[^\s]+)")


class LabProcess:
    def __init__(
        self,
        profile: str | None = "tiny",
        *,
        config: dict[str, Any] | None = None,
        time_scale: float | None = None,
        engine: str = "sim",
        faults: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        model_path: Path | str | None = None,
        startup_timeout: float = 60.0,
        allow_non_loopback: bool = False,
        **settings: Any,
    ) -> None:
        """``settings``: ``keep_alive``, ``num_parallel``, ``max_loaded_models``, ``max_queue``,
        ``default_num_ctx``, ``models`` — merged into the config (a built-in profile is its ``base``)."""
        self.config: dict[str, Any] = dict(config or {})
        if profile is not None:
            self.config.setdefault("base", profile)
        if time_scale is not None:
            self.config["time_scale"] = time_scale
        if faults:
            self.config["faults"] = {**self.config.get("faults", {}), **faults}
        self.config.update(settings)
        self.engine = engine
        self.host = host
        self.requested_port = port
        self.seed = seed
        self.model_path = model_path
        self.startup_timeout = startup_timeout
        self.allow_non_loopback = allow_non_loopback
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0
        self._config_path: Path | None = None
        self._stderr: Any = None
        self._lines: queue.Queue[str] = queue.Queue()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def command(self) -> list[str]:
        assert self._config_path is not None
        cmd = [sys.executable, "-m", "tuner.lab", "serve", "--host", self.host]
        cmd += ["--port", str(self.requested_port), "--config", str(self._config_path)]
        cmd += ["--engine", self.engine, "--seed", str(self.seed)]
        if self.model_path is not None:
            cmd += ["--model-path", str(self.model_path)]
        if self.allow_non_loopback:
            cmd.append("--allow-non-loopback")
        return cmd

    def start(self) -> LabProcess:
        fd, name = tempfile.mkstemp(prefix="lab-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.config, fh)
        self._config_path = Path(name)
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while not self.url:
            if self.proc.poll() is not None:
                raise UserError(f"the lab exited with code {self.proc.returncode}: {self.stderr_text()}")
            if time.monotonic() > deadline:
                raise UserError("the lab did not start in time")
            with contextlib.suppress(queue.Empty):
                match = _URL.search(self._lines.get(timeout=0.1))
                if match:
                    self.url = match.group(1).rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])
        while True:
            try:
                if httpx.get(self.url + "/lab/stats", timeout=2.0, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise UserError("the lab does not answer")
            time.sleep(0.02)

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read()).strip()[-2000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._config_path is not None:
            with contextlib.suppress(OSError):
                self._config_path.unlink()
            self._config_path = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> LabProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- introspection -------------------------------------------------------------------------------------
    def url_for(self, host: str) -> str:
        """The same server under another host name, e.g. ``lab.url_for("localhost")``."""
        return f"http://{host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/lab/stats")
        return result

    def reset(self) -> None:
        self._call("POST", "/lab/reset")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (unnamed faults go back to off)."""
        result: dict[str, Any] = self._call("POST", "/lab/faults", faults)
        return result

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.url + path, json=body, timeout=10.0, trust_env=False)
        response.raise_for_status()
        return response.json()
