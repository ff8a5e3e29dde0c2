"""keep_alive parsing as Ollama's api.Duration and envconfig.KeepAlive do it (pure units)."""

from __future__ import annotations

import math

import pytest

from tuner.lab.keepalive import KeepAliveError, parse_keep_alive, parse_server_keep_alive


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (300, 300.0),
        (1.5, 1.5),
        (-1, math.inf),
        ("0", 0.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("-1m", math.inf),
        ("+2s", 2.0),
    ],
)
def test_request_values(value: object, seconds: float) -> None:
    assert parse_keep_alive(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("-1", 'time: missing unit in duration "-1"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
        ("5d", 'time: unknown unit "d" in duration "5d"'),
        (True, "Unsupported type: 'bool'"),
        ([1], "Unsupported type: '[]interface {}'"),
    ],
)
def test_request_errors_carry_ollamas_message(value: object, message: str) -> None:
    with pytest.raises(KeepAliveError) as err:
        parse_keep_alive(value)
    assert str(err.value) == message


def test_server_default_also_accepts_plain_seconds() -> None:
    assert parse_server_keep_alive("300") == 300.0
    assert parse_server_keep_alive("30m") == 1800.0
    assert parse_server_keep_alive("-1") == math.inf
    assert parse_server_keep_alive("nonsense") == 300.0
