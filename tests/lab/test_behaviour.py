"""Ollama's scheduling rules, each checked against the lab in its own process (time_scale=0.01).

Model costs (conftest.SLOW): load 0.3 s, 10 ms per generated token.
"""

from __future__ import annotations

import contextlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

MODEL = "qwen2:7b"


def post(lab: Any, path: str, body: dict[str, Any], timeout: float = 10.0) -> httpx.Response:
    return httpx.post(lab.url + path, json=body, timeout=timeout, trust_env=False)


def gen(lab: Any, **body: Any) -> httpx.Response:
    return post(lab, "/api/generate", {"model": MODEL, "stream": False, **body})


def ps(lab: Any) -> dict[str, dict[str, Any]]:
    models = httpx.get(lab.url + "/api/ps", trust_env=False).json()["models"]
    return {m["model"]: m for m in models}


def seconds_left(entry: dict[str, Any]) -> float:
    return (datetime.fromisoformat(entry["expires_at"]) - datetime.now().astimezone()).total_seconds()


def test_bad_keep_alive_and_bad_json_are_400(make_lab: Any) -> None:
    lab = make_lab()
    r = gen(lab, prompt="x", keep_alive="300")
    assert r.status_code == 400 and r.json() == {"error": 'time: missing unit in duration "300"'}
    assert gen(lab, prompt="x", keep_alive="soon").status_code == 400
    assert gen(lab, prompt="x", keep_alive=True).status_code == 400
    bad = httpx.post(lab.url + "/api/chat", content=b"{not json", trust_env=False)
    assert bad.status_code == 400 and "error" in bad.json()
    empty = httpx.post(lab.url + "/api/chat", content=b"", trust_env=False)
    assert empty.json() == {"error": "missing request body"}
    assert lab.stats()["loads"] == 0


def test_keep_alive_expiry_starts_when_the_last_request_ends(make_lab: Any) -> None:
    lab = make_lab()
    # 20 s keep_alive -> 0.2 s here; the request itself generates for 0.5 s.
    assert gen(lab, prompt="x", keep_alive="20s", options={"num_predict": 50}).status_code == 200
    left = seconds_left(ps(lab)[MODEL])
    assert 0.1 < left <= 0.2
    time.sleep(0.5)
    assert ps(lab) == {}
    assert lab.stats()["unloads"] == 1


def test_forever_and_unload_with_zero(make_lab: Any) -> None:
    lab = make_lab()
    assert gen(lab, keep_alive=-1).json()["done_reason"] == "load"
    assert datetime.fromisoformat(ps(lab)[MODEL]["expires_at"]).year > 2200
    r = gen(lab, keep_alive=0)
    assert r.json()["done_reason"] == "unload" and r.json()["done"] is True
    assert ps(lab) == {}
    chat = post(lab, "/api/chat", {"model": MODEL, "messages": [], "keep_alive": "1m"})
    assert chat.json()["done_reason"] == "load"
    assert (
        post(lab, "/api/chat", {"model": MODEL, "messages": [], "keep_alive": 0}).json()["done_reason"]
        == "unload"
    )
    assert ps(lab) == {}


def test_request_without_keep_alive_keeps_the_models_setting(make_lab: Any) -> None:
    lab = make_lab(keep_alive="5m")  # server default: 3 s here
    gen(lab, keep_alive="1h")  # 36 s here
    gen(lab, prompt="no keep_alive given")
    assert seconds_left(ps(lab)[MODEL]) > 30
    gen(lab, keep_alive=0)
    gen(lab, prompt="a fresh load starts from the server default")
    assert 2 < seconds_left(ps(lab)[MODEL]) <= 3


def test_v1_ignores_keep_alive(make_lab: Any) -> None:
    lab = make_lab()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "keep_alive": 0, "max_tokens": 2}
    assert post(lab, "/v1/chat/completions", body).status_code == 200
    assert MODEL in ps(lab)


def _parallel(lab: Any, n: int, tokens: int = 20) -> list[httpx.Response]:
    body = {"model": MODEL, "prompt": "x", "stream": False, "options": {"num_predict": tokens}}
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: post(lab, "/api/generate", body), range(n)))


def test_one_slot_serializes_two_slots_overlap(make_lab: Any) -> None:
    one = make_lab(num_parallel=1)
    gen(one, keep_alive="1h")
    assert all(r.status_code == 200 for r in _parallel(one, 2))
    model = one.stats()["models"][MODEL]
    assert model["max_in_flight"] == 2 and model["max_active"] == 1
    two = make_lab(num_parallel=2)
    gen(two, keep_alive="1h")
    assert all(r.status_code == 200 for r in _parallel(two, 2))
    assert two.stats()["models"][MODEL]["max_active"] == 2


def test_waiting_for_a_slot_counts_as_load_duration(make_lab: Any) -> None:
    lab = make_lab(num_parallel=1)
    gen(lab, keep_alive="1h")
    loads = sorted(r.json()["load_duration"] for r in _parallel(lab, 2, tokens=30))
    assert loads[1] >= 0.25e9  # waited for the other request's 0.3 s of generation


def test_max_queue_answers_503(make_lab: Any) -> None:
    lab = make_lab(max_queue=1)
    results = _parallel(lab, 3, tokens=1)  # all need the cold model: one waits, two are refused
    busy = [r for r in results if r.status_code == 503]
    assert len(busy) == 2
    assert busy[0].json() == {"error": "server busy, please try again.  maximum pending requests exceeded"}
    assert lab.stats()["busy_503"] == 2


def test_max_loaded_models_evicts_the_idle_model(make_lab: Any) -> None:
    lab = make_lab(max_loaded_models=1)
    gen(lab, prompt="x")
    assert gen(lab, prompt="x", model="qwen:7b").status_code == 200
    assert set(ps(lab)) == {"qwen:7b"}
    stats = lab.stats()["models"]
    assert stats[MODEL]["unloads"] == 1 and stats["qwen:7b"]["loads"] == 1


def test_changed_num_ctx_forces_a_reload(make_lab: Any) -> None:
    lab = make_lab()
    gen(lab, prompt="x", options={"num_ctx": 2048})
    gen(lab, prompt="x", options={"num_ctx": 2048})
    assert lab.stats()["loads"] == 1
    gen(lab, prompt="x", options={"num_ctx": 8192})
    assert lab.stats()["loads"] == 2 and lab.stats()["unloads"] == 1
    assert ps(lab)[MODEL]["context_length"] == 8192


def test_client_disconnect_during_load_aborts_it(make_lab: Any) -> None:
    lab = make_lab()
    body = b'{"model":"qwen2:7b","prompt":"x","stream":false}'
    with socket.create_connection(("127.0.0.1", lab.port)) as sock:
        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        time.sleep(0.1)  # the 0.3 s load is under way
    time.sleep(0.3)
    stats = lab.stats()
    assert stats["aborted_loads"] == 1 and stats["loads"] == 0
    assert ps(lab) == {}
    assert gen(lab, prompt="again").status_code == 200  # the next request loads from scratch
    assert lab.stats()["loads"] == 1


def test_load_shared_by_waiters_survives_one_leaving(make_lab: Any) -> None:
    lab = make_lab()
    with ThreadPoolExecutor(2) as pool:
        quitter = pool.submit(lambda: gen(lab, prompt="x", timeout=0.1))
        stayer = pool.submit(lambda: gen(lab, prompt="y"))
        assert stayer.result().status_code == 200
        with contextlib.suppress(httpx.TimeoutException):
            quitter.result()
    stats = lab.stats()
    assert stats["aborted_loads"] == 0 and stats["loads"] == 1


def test_native_errors(make_lab: Any) -> None:
    lab = make_lab()
    r = gen(lab, model="ghost:1b", prompt="x")
    assert r.status_code == 404 and r.json() == {"error": "model 'ghost:1b' not found"}
    assert post(lab, "/api/show", {"name": "ghost"}).json() == {"error": "model 'ghost' not found"}
    assert post(lab, "/api/chat", {"messages": []}).json() == {"error": "model is required"}
    assert httpx.get(lab.url + "/nope", trust_env=False).status_code == 404
    root = httpx.head(lab.url + "/", trust_env=False)
    assert root.status_code == 200 and httpx.get(lab.url + "/", trust_env=False).text == "Ollama is running"
