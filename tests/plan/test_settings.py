"""Knob names: the names users see in their own files are aliases; an unknown name suggests the closest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner.errors import UserError
from tuner.knobs.catalogue import KNOBS
from tuner.plan import planfile
from tuner.plan.settings import Setting, checked, knob_named, parse_setting

ALIASES = [
    ("HTTPX_DEFAULT_TIMEOUT", "api_timeout"),
    ("API_TIMEOUT", "api_timeout"),
    ("api_base_url", "ollama_url"),
    ("api_proxy", "proxy"),
    ("openai_proxy", "proxy"),
    ("api_concurrencies", "api_concurrencies"),
    ("auto_detect_model", "auto_detect_model"),
    ("api_keepalive_expiry", "keepalive_expiry"),
    ("api_max_retries", "max_retries"),
    ("DEFAULT_BIND_HOST", "bind_host"),
    ("OLLAMA_KEEP_ALIVE", "keep_alive"),
    ("OLLAMA_NUM_PARALLEL", "num_parallel"),
    ("OLLAMA_MAX_LOADED_MODELS", "max_loaded_models"),
]

VALUES = {
    "api_timeout": "60",
    "ollama_url": "http://127.0.0.1:11434/v1",
    "proxy": "http://10.0.0.5:3128",
    "api_concurrencies": "2",
    "auto_detect_model": "no",
    "keepalive_expiry": "30",
    "max_retries": "1",
    "bind_host": "127.0.0.1",
    "keep_alive": "30m",
    "num_parallel": "2",
    "max_loaded_models": "1",
}


@pytest.mark.parametrize(("alias", "canonical"), ALIASES)
@pytest.mark.parametrize("case", [str, str.lower, str.upper], ids=["as-is", "lower", "upper"])
def test_each_alias_parses_to_its_knob(alias: str, canonical: str, case) -> None:  # type: ignore[no-untyped-def]
    name = case(alias)
    assert knob_named(name).name == canonical
    knob = knob_named(canonical)
    entry = "[ollama]" if knob.per_entry else ""
    setting = parse_setting(f"{name}{entry}={VALUES[canonical]}")
    assert setting == Setting(canonical, "ollama" if entry else None, knob.type.parse(VALUES[canonical]))
    assert checked(name, None, setting.value).knob == canonical


def test_every_name_and_alias_names_one_knob() -> None:
    names = [n.lower() for k in KNOBS for n in (k.name, *k.aliases)]
    assert len(names) == len(set(names))
    assert {a.lower() for a, _ in ALIASES} <= set(names)


def test_a_plan_file_using_an_alias_loads(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    settings = [
        {"knob": "HTTPX_DEFAULT_TIMEOUT", "entry": None, "value": 77.0},
        {"knob": "Api_Base_Url", "entry": "ollama", "value": "http://127.0.0.1:11434/v1"},
    ]
    data = {"chatchat-tune-plan": 1, "root": str(tmp_path), "generation": "0.3.1", "settings": settings}
    plan.write_text(json.dumps(data), encoding="utf-8")
    assert planfile.load(plan).settings == (
        Setting("api_timeout", None, 77.0),
        Setting("ollama_url", "ollama", "http://127.0.0.1:11434/v1"),
    )


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("api_timout", "did you mean api_timeout"),  # or load_timeout
        ("HTTPX_TIMEOUT", "did you mean api_timeout"),
        ("OLLAMA_KEEPALIVE", "did you mean keep_alive"),
        ("num_paralel", "did you mean num_parallel?"),
        ("openai_proxi", "did you mean proxy?"),
    ],
)
def test_an_unknown_knob_suggests_the_closest(typed: str, suggested: str) -> None:
    with pytest.raises(UserError) as info:
        parse_setting(f"{typed}=1")
    message = str(info.value)
    assert message.startswith(f"unknown knob {typed!r}; ") and suggested in message
    assert "\n" not in message


def test_an_unknown_knob_with_nothing_close_lists_the_knobs() -> None:
    with pytest.raises(UserError) as info:
        knob_named("warp")
    assert str(info.value) == f"unknown knob 'warp'; knobs: {', '.join(k.name for k in KNOBS)}"


def test_apply_accepts_the_file_name_and_shows_the_knob(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = (root / "basic_settings.yaml").read_bytes()
    run = run_cli("apply", "--root", str(root), "--dry-run", "--set", "HTTPX_DEFAULT_TIMEOUT=60")
    assert run.code == 2, run.err
    assert "+HTTPX_DEFAULT_TIMEOUT: 60.0" in run.out
    assert "api_timeout" in run.out
    assert (root / "basic_settings.yaml").read_bytes() == before
