"""A tiny OpenAI-compatible chat server (stdlib only) for tests that need a backend on loopback.

    python stub_openai.py PORT

Answers ``POST /v1/chat/completions`` (streaming or not) with ``stub says: <last user message>`` and
``GET /v1/models``; ``GET /stub/stats`` returns how many chat requests and TCP connections it saw.
It stands in for the lab where the lab is not needed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_LOCK = threading.Lock()
_STATS: dict[str, Any] = {"chat_requests": 0, "stream_requests": 0, "connections": 0, "bodies": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with _LOCK:
            _STATS["connections"] += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stub/stats":
            with _LOCK:
                self._json(200, _STATS)
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found"}})
            return
        req = json.loads(raw or b"{}")
        stream = bool(req.get("stream"))
        with _LOCK:
            _STATS["chat_requests"] += 1
            _STATS["stream_requests"] += int(stream)
            _STATS["bodies"].append(req)
        last = next(
            (m.get("content", "") for m in reversed(req.get("messages", [])) if m.get("role") == "user"), ""
        )
        words = ["stub", "says:", *str(last).split()]
        model = req.get("model", "stub-model")
        created = int(time.time())
        if not stream:
            self._json(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 3,
                        "completion_tokens": len(words),
                        "total_tokens": 3 + len(words),
                    },
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word if i == 0 else " " + word}
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        final = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        self.wfile.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
