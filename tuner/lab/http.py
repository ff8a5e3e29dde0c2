"""A small HTTP/1.1 server on asyncio streams and h11: keep-alive, chunked streaming, disconnect detection.

One task per connection; a reader task (the pump) reads the socket into a small inbox and notices when the
client goes away, which cancels the request being handled (so a client that disconnects during a model load
aborts it). The parser takes bytes from the inbox only when it needs them, and the pump stops reading while
the inbox holds ``MAX_BUFFERED`` bytes: data a client pipelines behind a request in progress waits in the
kernel (TCP back-pressure), not in the lab's memory. A body larger than ``MAX_BODY`` is refused with 413 as
soon as its ``Content-Length`` (or, chunked, the bytes received) says so, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate

import h11

MAX_BODY = 64 * 1024 * 1024  # largest request body accepted (bytes); larger ones get 413 and a close
MAX_BUFFERED = 64 * 1024  # bytes read ahead of the parser per connection before reading pauses
READ_SIZE = 64 * 1024  # one socket read
LINGER_SECONDS = 1.0  # after a 413: how long unread input is drained so the client sees the answer...
LINGER_BYTES = 4 * 1024 * 1024  # ...and how much of it at most, before the connection is closed
STREAM_YIELD_EVERY = 64  # a streamed response lets other connections run at least every N chunks


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    first_on_connection: bool
    connection_id: int


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    cut: bool = False  # fault: send half the body, then close the connection
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamResponse:
    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/x-ndjson"
    cut: bool = False  # fault: close the connection after the first chunk


class Hang:
    """Read the request and never answer (until the client gives up)."""


Result = Response | StreamResponse | Hang
App = Callable[[Request], Awaitable[Result]]

_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


class _Closed(Exception):
    pass


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        app: App,
        connection_id: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.app = app
        self.id = connection_id
        self.h11 = h11.Connection(h11.SERVER)
        self.inbox = bytearray()  # read from the socket, not yet given to h11 (at most ~MAX_BUFFERED)
        self.data_ready = asyncio.Event()  # the pump put data in the inbox, or reached EOF
        self.room = asyncio.Event()  # the parser emptied the inbox: the pump may read again
        self.room.set()
        self.eof = False
        self.current: asyncio.Task[bool] | None = None

    async def run(self) -> None:
        pump = asyncio.create_task(self._pump())
        try:
            first = True
            while True:
                request = await self._read_request(first)
                if request is None:
                    return
                first = False
                self.current = asyncio.create_task(self._respond(request))
                try:
                    keep_open = await self.current
                except asyncio.CancelledError:
                    if self.eof:
                        return  # client went away: the handler was cancelled
                    raise
                finally:
                    self.current = None
                if not keep_open or self.h11.our_state is h11.MUST_CLOSE:
                    return
                try:
                    self.h11.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (_Closed, ConnectionError, OSError):
            return
        finally:
            pump.cancel()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _pump(self) -> None:
        """Read ahead (to notice a disconnect while a request is served), but never more than MAX_BUFFERED."""
        inbox = self.inbox
        try:
            while True:
                if len(inbox) >= MAX_BUFFERED:
                    self.room.clear()
                    await self.room.wait()  # back-pressure: no reading until the parser wants more
                    continue
                data = await self.reader.read(READ_SIZE)
                if not data:
                    break
                inbox += data
                self.data_ready.set()
        except (ConnectionError, OSError):
            pass
        self.eof = True
        self.data_ready.set()
        if self.current is not None:
            self.current.cancel()

    async def _next_event(self) -> h11._events.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.inbox:
                data = bytes(self.inbox)
                self.inbox.clear()
                self.room.set()
                self.h11.receive_data(data)
                continue
            if self.eof:
                raise _Closed
            self.data_ready.clear()
            await self.data_ready.wait()

    async def _read_request(self, first: bool) -> Request | None:
        try:
            event = await self._next_event()
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            if not isinstance(event, h11.Request):
                return None
            for name, value in event.headers:
                # h11 has checked the value is digits (and that repeated headers agree)
                if name == b"content-length" and int(value) > MAX_BODY:
                    await self._refuse_too_large()
                    return None
            parts: list[bytes] = []
            size = 0
            while True:
                part = await self._next_event()
                if isinstance(part, h11.Data):
                    size += len(part.data)
                    if size > MAX_BODY:  # chunked: refused as soon as the bytes received pass the cap
                        await self._refuse_too_large()
                        return None
                    parts.append(part.data)
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return None
        except h11.RemoteProtocolError:
            with contextlib.suppress(Exception):
                await self._send_simple(400, b'{"error":"bad request"}')
            return None
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        body = b"".join(parts)  # bytes (h11 hands out bytearrays)
        return Request(event.method.decode("ascii"), path, query, headers, body, first, self.id)

    async def _refuse_too_large(self) -> None:
        """413 now, without reading the body; then drain a little input so the client can read the answer."""
        with contextlib.suppress(Exception):
            await self._send_simple(
                413, f'{{"error":"request body too large (limit {MAX_BODY} bytes)"}}'.encode(), close=True
            )
            if self.writer.can_write_eof():
                self.writer.write_eof()
        # Closing a socket with unread input makes the kernel send RST, which can destroy the 413 before the
        # client reads it: discard what is still arriving, within LINGER_SECONDS and LINGER_BYTES.
        deadline = time.monotonic() + LINGER_SECONDS
        drained = 0
        while not self.eof and drained < LINGER_BYTES:
            drained += len(self.inbox)
            self.inbox.clear()
            self.room.set()
            self.data_ready.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.data_ready.wait(), left)

    async def _send_simple(self, status: int, body: bytes, close: bool = False) -> None:
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        extra = [("connection", "close")] if close else []
        await self._write_response(Response(status, body, headers=extra))

    async def _respond(self, request: Request) -> bool:
        result = await self.app(request)
        if isinstance(result, Hang):
            await asyncio.Future()  # cancelled when the client disconnects
            return False
        if isinstance(result, StreamResponse):
            return await self._write_stream(result)
        return await self._write_response(result, head=request.method == "HEAD")

    async def _write_response(self, response: Response, head: bool = False) -> bool:
        headers = [
            ("content-type", response.content_type),
            ("date", http_date()),
            ("content-length", str(len(response.body))),
            *response.headers,
        ]
        send = self.h11.send
        out = send(h11.Response(status_code=response.status, headers=headers)) or b""
        if response.cut:
            self.writer.write(out + response.body[: len(response.body) // 2])
            await self.writer.drain()
            return False
        if response.body and not head:
            out += send(h11.Data(data=response.body)) or b""
        out += send(h11.EndOfMessage()) or b""
        self.writer.write(out)
        await self.writer.drain()
        return True

    async def _write_stream(self, response: StreamResponse) -> bool:
        send = self.h11.send
        headers = [("content-type", response.content_type), ("date", http_date())]
        chunks = response.chunks
        try:
            # Like Go's net/http, the status line goes out with the first body bytes.
            head = send(h11.Response(status_code=response.status, headers=headers)) or b""
            sent = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                self.writer.write(head + (send(h11.Data(data=chunk)) or b""))
                head = b""
                await self.writer.drain()  # suspends only when the client reads slower than we write
                if response.cut:
                    return False
                sent += 1
                if sent % STREAM_YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let other connections (and this one's disconnect) be noticed
            if head:
                self.writer.write(head)
            self.writer.write(send(h11.EndOfMessage()) or b"")
            await self.writer.drain()
            return True
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: App, connection_id: int
) -> None:
    await Connection(reader, writer, app, connection_id).run()
