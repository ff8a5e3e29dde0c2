"""Each fault the lab can inject, against the lab in its own process."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

CHAT = {"model": "qwen2:7b", "messages": [{"role": "user", "content": "hi"}]}


def test_connect_delay_only_for_new_localhost_connections(make_lab: Any) -> None:
    # time_scale 1 here so the delay is 0.4 s of real time.
    lab = make_lab(time_scale=1.0, profile="zero", models=None, faults={"connect_delay": 0.4})
    with httpx.Client(base_url=lab.url_for("localhost"), trust_env=False) as client:
        start = time.perf_counter()
        client.get("/api/version")
        first = time.perf_counter() - start
        start = time.perf_counter()
        client.get("/api/version")  # the same (reused) connection
        reused = time.perf_counter() - start
    with httpx.Client(base_url=lab.url, trust_env=False) as direct:
        start = time.perf_counter()
        direct.get("/api/version")  # 127.0.0.1: not the delayed host name
        ipv4 = time.perf_counter() - start
    assert first >= 0.4 and reused < 0.3 and ipv4 < 0.3
    assert lab.stats()["faults"] == {"connect_delay": 1}


def test_lab_listens_on_ipv4_loopback_only(make_lab: Any) -> None:
    lab = make_lab(profile="zero", models=None)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://[::1]:{lab.port}/", trust_env=False, timeout=2)


def test_first_byte_delay(make_lab: Any) -> None:
    lab = make_lab(time_scale=1.0, profile="zero", models=None, faults={"first_byte_delay": 0.3})
    with httpx.Client(base_url=lab.url, trust_env=False) as client:
        for _ in range(2):
            start = time.perf_counter()
            assert client.post("/api/chat", json={**CHAT, "stream": False}).status_code == 200
            assert time.perf_counter() - start >= 0.3
    assert lab.stats()["faults"] == {"first_byte_delay": 2}


def test_disconnect_mid_stream(make_lab: Any) -> None:
    lab = make_lab(faults={"disconnect_every": 2})
    with httpx.Client(base_url=lab.url, trust_env=False) as client:
        with client.stream("POST", "/api/chat", json=CHAT) as r:
            ok = [line for line in r.iter_lines() if line]
        assert '"done":true' in ok[-1]
        lines: list[str] = []
        with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", "/api/chat", json=CHAT) as r:
            lines.extend(line for line in r.iter_lines() if line)
        assert len(lines) < len(ok)
        with pytest.raises(httpx.RemoteProtocolError):
            body = {"model": "qwen2:7b", "messages": CHAT["messages"], "stream": False}
            client.post("/api/chat", json=body)
            client.post("/api/chat", json=body)
    assert lab.stats()["faults"]["disconnect_mid_stream"] == 2


def test_error_rate(make_lab: Any) -> None:
    lab = make_lab(faults={"error_rate": 1.0})
    r = httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False)
    assert r.status_code == 500 and isinstance(r.json()["error"], str)
    v1 = httpx.post(lab.url + "/v1/chat/completions", json=CHAT, trust_env=False)
    assert v1.status_code == 500 and v1.json()["error"]["type"] == "api_error"
    lab.set_faults(error_every=3)
    codes = [httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False).status_code for _ in range(6)]
    assert codes == [200, 200, 500, 200, 200, 500]


def test_hang_is_only_bounded_by_the_client_timeout(make_lab: Any) -> None:
    lab = make_lab(faults={"hang": True})
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False, timeout=0.5)
    assert time.perf_counter() - start >= 0.5
    assert lab.stats()["faults"] == {"hang": 1}  # /lab/ routes never hang
    lab.set_faults()  # all off again
    assert httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False, timeout=5).status_code == 200


def test_faults_are_seeded(make_lab: Any) -> None:
    def run(seed: int) -> list[int]:
        lab = make_lab(seed=seed, faults={"error_rate": 0.5})
        return [httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False).status_code for _ in range(8)]

    first = run(7)
    assert run(7) == first and 500 in first and 200 in first


def test_stats_reset_and_concurrency_count(make_lab: Any) -> None:
    lab = make_lab()
    httpx.post(lab.url + "/api/chat", json=CHAT, trust_env=False)
    assert lab.stats()["requests"]["POST /api/chat"] == 1
    lab.reset()
    stats = lab.stats()
    assert stats["requests"] == {"GET /lab/stats": 1} and stats["loads"] == 0
    assert stats["connections_opened"] == 1
