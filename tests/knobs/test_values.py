"""Knob value types and the KNOB[entry]=VALUE syntax (pure parsing units)."""

from __future__ import annotations

import pytest

from tuner.errors import UserError
from tuner.knobs import values
from tuner.knobs.values import BadValue, keep_alive_seconds, parse_go_duration_ns
from tuner.plan.settings import Setting, checked, parse_setting


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("5m", 300 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("-1m", -60 * 10**9),
        ("0", 0),
        ("1.5s", 1_500_000_000),
        ("250ms", 250_000_000),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["300", "5 m", "m", "1d", "", "1h-5m"])
def test_go_durations_refused(text: str) -> None:
    with pytest.raises(BadValue):
        parse_go_duration_ns(text)


def test_keep_alive_accepts_service_forms() -> None:
    assert values.KEEP_ALIVE.parse("300") == "300"  # OLLAMA_KEEP_ALIVE takes plain seconds
    assert values.KEEP_ALIVE.parse("-1") == "-1"
    assert values.KEEP_ALIVE.parse("0") == "0"
    assert values.KEEP_ALIVE.parse("30m") == "30m"
    assert keep_alive_seconds("30m") == 1800.0 and keep_alive_seconds(-1) == -1.0


@pytest.mark.parametrize(
    ("vtype", "good", "bad"),
    [
        (values.SECONDS, "42", "0"),
        (values.SECONDS, "1.5", "nan"),
        (values.POSITIVE_INT, "3", "0"),
        (values.POSITIVE_INT, "3", "2.5"),
        (values.BOOL, "false", "maybe"),
        (values.URL, "http://127.0.0.1:11434/v1", "127.0.0.1:11434"),
        (values.URL, "https://ollama.local/v1", "http://host:99999/"),
        (values.PROXY, "", "ftp://x"),
    ],
)
def test_types_accept_and_refuse(vtype: values.ValueType, good: str, bad: str) -> None:
    vtype.parse(good)
    with pytest.raises(BadValue):
        vtype.parse(bad)


def test_setting_syntax() -> None:
    assert parse_setting("api_timeout=120") == Setting("api_timeout", None, 120.0)
    assert parse_setting("ollama_url[ollama]=http://127.0.0.1:11434/v1") == Setting(
        "ollama_url", "ollama", "http://127.0.0.1:11434/v1"
    )
    assert parse_setting("auto_detect_model[xinference]=no") == Setting(
        "auto_detect_model", "xinference", False
    )
    assert checked("api_concurrencies", "ollama", 2) == Setting("api_concurrencies", "ollama", 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope=1", "unknown knob 'nope'"),
        ("api_timeout", "is not KNOB=VALUE"),
        ("api_timeout=-3", "seconds must be"),
        ("api_timeout[x]=3", "has no entries"),
        ("num_parallel=0", "integer >= 1"),
    ],
)
def test_setting_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse_setting(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "infinity", "1e400"])
def test_duration_seconds_refuses_non_finite(text: str) -> None:
    with pytest.raises(BadValue, match=r"--idle-gap: .* not a finite duration"):
        values.duration_seconds(text, "--idle-gap")


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("2.5", 2.5), ("10m", 600.0), ("1h30m", 5400.0)])
def test_duration_seconds_accepts_numbers_and_durations(text: str, seconds: float) -> None:
    assert values.duration_seconds(text, "--idle-gap") == seconds


def test_huge_go_duration_is_refused_not_an_overflow() -> None:
    with pytest.raises(BadValue, match="out of range"):
        parse_go_duration_ns("9" * 400 + "h")


@pytest.mark.parametrize(
    ("typed", "body"),
    [("300", 300), ("-1", -1), ("0", 0), ("+7", 7), ("30m", "30m"), ("1h30m", "1h30m"), ("-1m", "-1m")],
)
def test_keep_alive_body_sends_plain_seconds_as_a_number(typed: str, body: int | str) -> None:
    sent = values.keep_alive_body(str(values.KEEP_ALIVE.parse(typed)))
    assert sent == body and type(sent) is type(body)


def test_keep_alive_body_refuses_what_is_not_a_keep_alive() -> None:
    with pytest.raises(BadValue):
        values.keep_alive_body("5 minutes")
