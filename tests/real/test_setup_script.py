"""scripts/setup-chatchat: idempotent, prints the venv, records what it installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import chatchat_real as cr
import pytest

pytestmark = pytest.mark.chatchat


def test_rerun_is_a_no_op_that_prints_the_venv(chatchat_venv: Path) -> None:
    marker = chatchat_venv.parent / "installed.json"
    stamp = marker.stat().st_mtime_ns
    proc = subprocess.run(
        [sys.executable, str(cr.SETUP_SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(chatchat_venv)
    assert proc.stderr == ""  # nothing installed, nothing said
    assert marker.stat().st_mtime_ns == stamp

    data = json.loads(marker.read_text(encoding="utf-8"))
    assert data["requirements"][0] == f"langchain-chatchat=={cr.CHATCHAT_VERSION}"
    freeze = set(data["freeze"])
    assert f"langchain-chatchat=={cr.CHATCHAT_VERSION}" in freeze
    assert "httpx==0.27.2" in freeze
