"""`chatchat-tune apply` on a real `chatchat init`: Chatchat's own loader sees exactly the values written."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import chatchat_real as cr
import pytest

pytestmark = pytest.mark.chatchat

SETS = (
    "api_timeout=42",
    "ollama_url=http://127.0.0.1:11555/v1",
    "api_concurrencies[ollama]=2",
    "auto_detect_model[xinference]=false",
)


def set_args(root: Path) -> list[str]:
    args = ["apply", "--root", str(root)]
    for s in SETS:
        args += ["--set", s]
    return args


def platform(settings: dict[str, Any], name: str) -> dict[str, Any]:
    entries = [p for p in settings["model_settings"]["MODEL_PLATFORMS"] if p["platform_name"] == name]
    assert len(entries) == 1, f"expected one platform {name!r}"
    found: dict[str, Any] = entries[0]
    return found


def expected_after(before: dict[str, Any]) -> dict[str, Any]:
    """The settings as they must load after the apply: the four values changed, nothing else."""
    after = copy.deepcopy(before)
    after["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] = 42.0
    platform(after, "ollama")["api_base_url"] = "http://127.0.0.1:11555/v1"
    platform(after, "ollama")["api_concurrencies"] = 2
    platform(after, "xinference")["auto_detect_model"] = False
    return after


def test_fresh_init_loads_the_shipped_defaults(chatchat_venv: Path, chatchat_root: Path) -> None:
    settings = cr.load_settings(chatchat_venv, chatchat_root)
    assert set(settings) == set(cr.SETTINGS_GROUPS)
    assert settings["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] == 300.0
    assert settings["basic_settings"]["API_SERVER"]["port"] == 7861
    assert settings["basic_settings"]["KB_ROOT_PATH"] == str(chatchat_root / "data" / "knowledge_base")
    names = [p["platform_name"] for p in settings["model_settings"]["MODEL_PLATFORMS"]]
    assert names == ["xinference", "ollama", "oneapi", "openai"]
    assert platform(settings, "xinference")["auto_detect_model"] is True
    assert platform(settings, "ollama")["api_base_url"] == "http://127.0.0.1:11434/v1"
    assert platform(settings, "ollama")["api_concurrencies"] == 5


def test_apply_writes_values_chatchat_loads_and_nothing_else(
    chatchat_venv: Path, chatchat_root: Path
) -> None:
    before = cr.load_settings(chatchat_venv, chatchat_root)
    files_before = {name: (chatchat_root / name).read_bytes() for name in cr.SETTINGS_FILES}

    dry = cr.run_tuner(*set_args(chatchat_root), "--dry-run")
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert {name: (chatchat_root / name).read_bytes() for name in cr.SETTINGS_FILES} == files_before

    applied = cr.run_tuner(*set_args(chatchat_root))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    after = cr.load_settings(chatchat_venv, chatchat_root)
    assert after["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] == 42.0
    assert platform(after, "ollama")["api_base_url"] == "http://127.0.0.1:11555/v1"
    assert platform(after, "ollama")["api_concurrencies"] == 2
    assert platform(after, "xinference")["auto_detect_model"] is False
    assert after == expected_after(before)

    # Only the two files holding these knobs changed.
    changed = {
        name for name in cr.SETTINGS_FILES if (chatchat_root / name).read_bytes() != files_before[name]
    }
    assert changed == {"basic_settings.yaml", "model_settings.yaml"}

    again = cr.run_tuner(*set_args(chatchat_root), "--dry-run")
    assert again.returncode == 0, again.stdout + again.stderr
