"""Chatchat 0.2.8–0.2.final's model call, on v0.2.10's own library stack: the two facts the tool reports.

(a) ``HTTPX_DEFAULT_TIMEOUT`` does not bound the model call; (b) the entry's ``openai_proxy`` does not reach
it (``tuner/install/layout.py``: the 0.2.x layouts' ``timeout_bounds_model_call=False`` and
``proxy_reaches_model_call=False``).

Chatchat 0.2.x is not a package (a git checkout whose requirements pull torch and fschat), so its code is
not run here. ``_REPRO`` below is a small script written for this test from reading v0.2.10's code; it
imports only the libraries, in the venv ``python3 scripts/setup-chatchat --stack 0.2.10`` makes
(langchain 0.0.354, langchain-community 0.0.19, openai 1.9.0, httpx 0.26.0, pydantic 1.10.13; ~20 s and
~210 MB, once). Everything runs on 127.0.0.1 and every child is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chatchat_real as cr
import pytest

pytestmark = pytest.mark.chatchat

_SETUP = cr._SETUP  # scripts/setup-chatchat as a module: venv paths, pins, offline environment
STACK = "0.2.10"
HTTPX_DEFAULT_TIMEOUT = 2.0  # what the script patches into httpx's globals, as set_httpx_config does
# How long the model call must still be waiting after it started. Had the 2 s applied, openai's 3 attempts
# (max_retries=2, with back-off) would end in APITimeoutError at ~8.3 s (measured here by passing
# request_timeout=2 instead), so this must be well past that; the one-POST check catches any retry anyway.
HOLD = 12.0
STARTUP = 90.0  # bound on the script's imports and set-up before the model call
QUERY = "hello from the 0.2.10 stack"

# The reproduction, written anew here from reading v0.2.10 (tag:path:line); nothing of Chatchat is imported:
# - v0.2.10:server/utils.py:455-509 `set_httpx_config`, run at the start of every Chatchat process
#   (v0.2.10:startup.py:289, :377, :417, :435, :448; v0.2.10:webui_pages/utils.py:31). It sets the
#   connect/read/write fields of httpx's module-global default Timeout to HTTPX_DEFAULT_TIMEOUT; appends
#   "http://127.0.0.1", "http://localhost" and the fastchat hosts (0.0.0.0 becomes 127.0.0.1,
#   v0.2.10:server/utils.py:399-400) to NO_PROXY; and replaces urllib.request.getproxies with a function
#   returning its proxy argument (none by default).
# - v0.2.10:server/utils.py:47-72 `get_ChatOpenAI`: a new langchain ChatOpenAI (`from langchain.chat_models
#   import ChatOpenAI`, :12) per request with streaming, verbose, callbacks, openai_api_key=the entry's
#   api_key (default "EMPTY"), openai_api_base=the entry's api_base_url, model_name (the entry's for
#   "openai-api", :57-58), temperature, max_tokens and openai_proxy=the entry's openai_proxy. No
#   request_timeout, so langchain's default None is what openai gets. (:59 also swaps in MinxChatOpenAI's
#   token-encoding getter; only token counting uses it, which this call does not.)
# - v0.2.10:server/chat/chat.py:39-101: an AsyncIteratorCallbackHandler, then
#   LLMChain(prompt, llm).acall({"input": q}) in an asyncio task (wrapped so that errors end the stream),
#   tokens read from the handler.
_REPRO = r'''
import argparse, asyncio, json, os, sys, time, urllib.request

import httpx
import openai
from langchain.callbacks import AsyncIteratorCallbackHandler
from langchain.chains import LLMChain
from langchain.chat_models import ChatOpenAI
from langchain.prompts.chat import ChatPromptTemplate


def say(event, **data):
    print("@@EVENT " + json.dumps({"event": event, **data}), flush=True)


def patch_httpx_globals(timeout):
    """What set_httpx_config does to the process, with its default (no) proxy argument."""
    default = httpx._config.DEFAULT_TIMEOUT_CONFIG
    default.connect = timeout
    default.read = timeout
    default.write = timeout
    hosts = [h.strip() for h in os.environ.get("no_proxy", "").split(",") if h.strip()]
    for host in ("http://127.0.0.1", "http://localhost"):
        if host not in hosts:
            hosts.append(host)
    os.environ["NO_PROXY"] = ",".join(hosts)
    urllib.request.getproxies = lambda: {}


def build_client(base_url, openai_proxy, callbacks):
    """The ChatOpenAI get_ChatOpenAI builds for an "openai-api" entry."""
    return ChatOpenAI(
        streaming=True,
        verbose=True,
        callbacks=callbacks,
        openai_api_key="EMPTY",
        openai_api_base=base_url,
        model_name="stub-model",
        temperature=0.7,
        max_tokens=None,
        openai_proxy=openai_proxy,
    )


async def model_call(base_url, openai_proxy):
    handler = AsyncIteratorCallbackHandler()
    model = build_client(base_url, openai_proxy, [handler])
    inner = model.async_client._client  # the openai.AsyncOpenAI that langchain built
    say("client", openai_timeout=repr(inner.timeout), max_retries=inner.max_retries,
        httpx_client_timeout=repr(inner._client.timeout))
    chain = LLMChain(prompt=ChatPromptTemplate.from_messages([("human", "{input}")]), llm=model)

    async def guarded():
        try:
            await chain.acall({"input": QUERY})
        except Exception as exc:
            say("model-call-error", error=type(exc).__name__, detail=str(exc)[:300],
                seconds=round(time.monotonic() - started, 2))
        finally:
            handler.done.set()

    started = time.monotonic()
    say("model-call-started")
    task = asyncio.create_task(guarded())
    text = "".join([token async for token in handler.aiter()])
    await task
    say("model-call-done", text=text, seconds=round(time.monotonic() - started, 2),
        openai_proxy_attribute=repr(getattr(openai, "proxy", None)))


async def control_silent(url):
    """A plain httpx client with httpx's defaults, in the same process: the patched globals bound it."""
    started = time.monotonic()
    try:
        async with httpx.AsyncClient() as client:
            await client.get(url)
        say("control-silent", error=None, seconds=round(time.monotonic() - started, 2))
    except httpx.HTTPError as exc:
        say("control-silent", error=type(exc).__name__, seconds=round(time.monotonic() - started, 2),
            client_timeout=repr(httpx.AsyncClient().timeout))


def control_proxy(proxy, url):
    """A plain httpx client given the same proxy explicitly: it does go through it (NO_PROXY or not)."""
    with httpx.Client(proxies=proxy) as client:
        say("control-proxy", status=client.get(url).status_code)


parser = argparse.ArgumentParser()
parser.add_argument("--base-url", required=True)
parser.add_argument("--httpx-timeout", type=float, required=True)
parser.add_argument("--openai-proxy", default="")
parser.add_argument("--query", required=True)
parser.add_argument("--control-silent-url")
args = parser.parse_args()
QUERY = args.query
patch_httpx_globals(args.httpx_timeout)
d = httpx._config.DEFAULT_TIMEOUT_CONFIG
say("patched", httpx_default=[d.connect, d.read, d.write, d.pool], no_proxy=os.environ["NO_PROXY"],
    versions={m.__name__: m.__version__ for m in (httpx, openai)})
if args.control_silent_url:
    asyncio.run(control_silent(args.control_silent_url))
asyncio.run(model_call(args.base_url, args.openai_proxy))
if args.openai_proxy:
    control_proxy(args.openai_proxy, args.base_url + "/models?control=1")
'''


# --- the stack's venv ---------------------------------------------------------------------------------------


def _cached_stack() -> Path | None:
    """The stack venv if setup-chatchat finished it (its marker matches), else None. Installs nothing."""
    root = Path(_SETUP.stack_dir(STACK))
    try:
        marker = json.loads((root / _SETUP.MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != _SETUP.MARKER_FORMAT:
        return None
    if marker.get("requirements") != list(_SETUP.stack_requirements(STACK)):
        return None
    venv = root / "venv"
    return venv if cr.venv_python(venv).is_file() else None


@pytest.fixture(scope="module")
def stack_python() -> Path:
    venv = _cached_stack()
    if venv is None:
        pytest.skip(
            f"no {STACK} library-stack venv; `python3 scripts/setup-chatchat --stack {STACK}` makes it "
            "(~20 s, ~210 MB; scripts/test always does)"
        )
    return cr.venv_python(venv)


# --- loopback servers ---------------------------------------------------------------------------------------


class _Listener:
    """A TCP server on 127.0.0.1 that hands each connection to ``handle`` in a thread, and records them."""

    def __init__(self) -> None:
        self.sock = socket.create_server((cr.LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.received: list[bytearray] = []  # per connection, what the client sent
        self.conns: list[socket.socket] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{cr.LOOPBACK}:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            buf = bytearray()
            with self.lock:
                self.received.append(buf)
                self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn, buf), daemon=True).start()

    def handle(self, conn: socket.socket, buf: bytearray) -> None:
        raise NotImplementedError

    def request_lines(self) -> list[str]:
        with self.lock:
            chunks = [bytes(b) for b in self.received]
        lines = []
        for data in chunks:
            for head in data.split(b"\r\n\r\n"):
                first = head.split(b"\r\n", 1)[0].decode("latin-1")
                if first.split(" ")[-1:] == ["HTTP/1.1"]:
                    lines.append(first)
        return lines

    def close(self) -> None:
        self.closed.set()
        self.thread.join(timeout=5)
        self.sock.close()
        with self.lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.close()


class SilentBackend(_Listener):
    """Accepts, reads whatever comes, never answers (a model server that hangs)."""

    def handle(self, conn: socket.socket, buf: bytearray) -> None:
        conn.settimeout(0.5)
        while not self.closed.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            with self.lock:
                buf.extend(data)


class ProxyStub(_Listener):
    """Records each connection's request head and answers 502: a proxy that would show any use of it."""

    def handle(self, conn: socket.socket, buf: bytearray) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError), conn:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                with self.lock:
                    buf.extend(data)
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def silent_backend() -> Iterator[SilentBackend]:
    server = SilentBackend()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxy_stub() -> Iterator[ProxyStub]:
    server = ProxyStub()
    try:
        yield server
    finally:
        server.close()


# --- running the reproduction -------------------------------------------------------------------------------


class Repro:
    """The reproduction script running in the stack venv; its events arrive on a queue as they are printed."""

    def __init__(self, python: Path, script: Path, args: list[str]) -> None:
        env = _SETUP.offline_env()
        for key in list(env):  # nothing of the caller's openai/langchain settings may leak in
            if key.upper().startswith(("OPENAI_", "LANGCHAIN_", "LANGSMITH_")):
                del env[key]
        self.proc = subprocess.Popen(
            [
                str(python),
                str(script),
                "--httpx-timeout",
                str(HTTPX_DEFAULT_TIMEOUT),
                "--query",
                QUERY,
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(script.parent),
            text=True,
            encoding="utf-8",
            **cr.popen_group_kwargs(),
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if line.startswith("@@EVENT "):
                self.events.put(json.loads(line[len("@@EVENT ") :]))

    def next_event(self, name: str, timeout: float) -> dict[str, Any]:
        """The next event, which must be ``name`` and arrive within timeout seconds."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {name!r} event within {timeout} s; output:\n{self.tail()}") from None
        assert event["event"] == name, f"expected {name!r}, got {event}; output:\n{self.tail()}"
        return event

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return code

    def tail(self) -> str:
        return "".join(self.output[-40:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            cr.stop_group(self.proc, grace=5)
        self.reader.join(timeout=5)


@pytest.fixture
def repro(stack_python: Path, tmp_path: Path) -> Iterator[Any]:
    script = tmp_path / "repro_0210.py"
    script.write_text(_REPRO, encoding="utf-8")
    started: list[Repro] = []

    def start(*args: str) -> Repro:
        run = Repro(stack_python, script, list(args))
        started.append(run)
        return run

    try:
        yield start
    finally:
        for run in started:
            run.stop()


def _check_patched(run: Repro) -> None:
    patched = run.next_event("patched", STARTUP)
    assert patched["httpx_default"][:3] == [HTTPX_DEFAULT_TIMEOUT] * 3
    assert patched["versions"] == {"httpx": "0.26.0", "openai": "1.9.0"}
    assert "http://127.0.0.1" in patched["no_proxy"].split(",")


# --- the facts ----------------------------------------------------------------------------------------------


def test_the_reproduced_client_answers(repro: Any, stub_backend: cr.Backend) -> None:
    """Against a backend that answers, the client built as get_ChatOpenAI builds it streams the answer."""
    run = repro("--base-url", stub_backend.base_url)
    _check_patched(run)
    run.next_event("client", STARTUP)
    run.next_event("model-call-started", STARTUP)
    done = run.next_event("model-call-done", 30)
    assert done["text"] == f"stub says: {QUERY}"
    assert run.wait(30) == 0, run.tail()
    stats = stub_backend.stats()
    assert stats["chat_requests"] == stats["stream_requests"] == 1
    assert stats["bodies"][0]["model"] == "stub-model"


def test_httpx_default_timeout_does_not_bound_the_model_call(
    repro: Any, silent_backend: SilentBackend
) -> None:
    """HTTPX_DEFAULT_TIMEOUT=2 s, patched into httpx's globals: a plain httpx client times out at ~2 s in the
    same process, while the model call to a backend that never answers is still waiting HOLD s later, on its
    first and only request (openai's 2 retries would have sent more, had any timeout fired)."""
    run = repro(
        "--base-url", silent_backend.url + "/v1", "--control-silent-url", silent_backend.url + "/ping"
    )
    _check_patched(run)

    control = run.next_event("control-silent", STARTUP)
    assert control["error"] == "ReadTimeout", control
    assert HTTPX_DEFAULT_TIMEOUT - 0.5 <= control["seconds"] <= HTTPX_DEFAULT_TIMEOUT + 3, control

    client = run.next_event("client", STARTUP)
    assert client["openai_timeout"] == "None"  # langchain passed request_timeout=None on as timeout=None
    assert client["max_retries"] == 2
    assert client["httpx_client_timeout"] == "Timeout(timeout=None)"
    run.next_event("model-call-started", STARTUP)
    started = time.monotonic()

    deadline = started + 10
    while "POST /v1/chat/completions HTTP/1.1" not in silent_backend.request_lines():
        assert time.monotonic() < deadline, f"the model call never reached the backend:\n{run.tail()}"
        time.sleep(0.1)
    with contextlib.suppress(queue.Empty):  # nothing may come: no error, no answer
        event = run.events.get(timeout=max(0.0, started + HOLD - time.monotonic()))
        raise AssertionError(f"the model call ended within {HOLD} s: {event}\n{run.tail()}")
    waited = time.monotonic() - started
    assert run.proc.poll() is None, run.tail()
    assert waited >= HOLD
    posts = [line for line in silent_backend.request_lines() if line.startswith("POST ")]
    assert posts == ["POST /v1/chat/completions HTTP/1.1"], posts  # one attempt: no timeout, no retry
    run.stop()


def test_openai_proxy_does_not_reach_the_model_call(
    repro: Any, stub_backend: cr.Backend, proxy_stub: ProxyStub
) -> None:
    """The entry's openai_proxy points at a recording proxy on loopback: the model call goes straight to the
    backend and never to the proxy, while a plain httpx client given the same proxy does go through it."""
    run = repro("--base-url", stub_backend.base_url, "--openai-proxy", proxy_stub.url)
    _check_patched(run)
    run.next_event("client", STARTUP)
    run.next_event("model-call-started", STARTUP)
    done = run.next_event("model-call-done", 30)
    assert done["text"] == f"stub says: {QUERY}"
    # langchain did hand the proxy to openai, as a module attribute that openai 1.x never reads
    assert done["openai_proxy_attribute"] == repr({"http": proxy_stub.url, "https": proxy_stub.url})
    assert stub_backend.stats()["chat_requests"] == 1

    control = run.next_event("control-proxy", 30)
    assert control["status"] == 502  # the stub's answer: the control went through the proxy
    assert run.wait(30) == 0, run.tail()
    assert proxy_stub.request_lines() == [f"GET {stub_backend.base_url}/models?control=1 HTTP/1.1"]
    assert stub_backend.stats()["chat_requests"] == 1
