"""Pure parts of the doctor: httpx's proxy rules as applied to Chatchat, and the ranking of findings."""

from __future__ import annotations

import pytest

from tuner.doctor.model import Finding
from tuner.doctor.proxy import CHATCHAT_NO_PROXY, proxy_for, verdict
from tuner.doctor.rules import _duration, _key

PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("url", "info", "proxied"),
    [
        ("http://127.0.0.1:11434/v1", {"http": PROXY}, False),  # Chatchat exempts it
        ("http://localhost:11434/v1", {"all": PROXY}, False),
        ("http://[::1]:11434/v1", {"http": PROXY}, True),  # not exempted by Chatchat
        ("http://[::1]:11434/v1", {"http": PROXY, "no": "::1"}, False),
        ("http://gpu.lan:11434/v1", {"http": PROXY, "no": "lan"}, False),  # suffix match, as curl
        ("http://gpu.lan:11434/v1", {"http": PROXY, "no": ".lan"}, False),
        ("http://gpu.lan:11434/v1", {"http": PROXY, "no": "other.lan"}, True),
        ("http://gpu.lan:11434/v1", {"https": PROXY}, False),  # scheme must match
        ("http://gpu.lan:11434/v1", {"all": PROXY}, True),
        ("http://gpu.lan:11434/v1", {"all": PROXY, "no": "*"}, False),
        ("http://10.0.0.5:11434/v1", {"http": PROXY, "no": "10.0.0.5"}, False),
        ("https://10.0.0.5:11434/v1", {"http": PROXY}, False),
    ],
)
def test_proxy_rules_as_httpx_applies_them(url: str, info: dict[str, str], proxied: bool) -> None:
    assert (proxy_for(url, info, CHATCHAT_NO_PROXY) is not None) is proxied


def test_verdict_names_the_variable() -> None:
    v = verdict("http://gpu.lan:11434/v1", {"http": PROXY}, {"http_proxy": PROXY, "NO_PROXY": "x"})
    assert v is not None and v.source == f"http_proxy={PROXY}" and v.no_proxy == "x"
    assert verdict("http://gpu.lan:11434/v1", {}, {}) is None


def _f(code: str, severity: str, cost: float | None, unbounded: bool = False) -> Finding:
    return Finding(code, severity, code, cost, "request", (), (), unbounded)  # type: ignore[arg-type]


def test_ranking_severity_then_unbounded_then_cost() -> None:
    found = [
        _f("a", "info", 9.0),
        _f("b", "warn", None),
        _f("c", "warn", 0.2),
        _f("d", "error", 1.0),
        _f("e", "error", None, unbounded=True),
        _f("f", "warn", 0.5),
    ]
    assert [f.code for f in sorted(found, key=_key)] == ["e", "d", "f", "c", "b", "a"]


def test_keep_alive_suggestion_is_a_go_duration() -> None:
    assert _duration(60) == "30m"
    assert _duration(3 * 3600) == "3h"
    assert _duration(5400) == "1h30m"
