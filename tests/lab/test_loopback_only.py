"""`lab serve --host` refuses anything but loopback: the lab never listens beyond this machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tuner.lab.cli import is_loopback
from tuner.lab.process import LabProcess


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LocalHost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "lab.invalid", "[::1]", "127.0.0.1.invalid"])
def test_other_hosts_are_refused(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "lab.invalid"])
def test_serve_refuses_a_non_loopback_host_before_listening(host: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tuner.lab", "serve", "--host", host, "--port", "0", "--profile", "tiny"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not a loopback address" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "listening" not in proc.stdout


def test_serve_on_localhost_still_works() -> None:
    lab = LabProcess("tiny", host="localhost").start()
    try:
        assert lab.port > 0
    finally:
        lab.stop()
