"""A stand-in for Chatchat's API (stdlib only): ``/chat/chat/completions`` forwarded to an Ollama /v1.

    python stub_chatchat.py UPSTREAM_ROOT DELAY_SECONDS

Each request waits DELAY_SECONDS (Chatchat's own work) and is forwarded on a new connection, as Chatchat
0.3.1.3 does. ``GET /docs`` answers 200. Prints ``listening on http://127.0.0.1:PORT`` when ready.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = sys.argv[1].rstrip("/")
DELAY = float(sys.argv[2])
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200 if self.path == "/docs" else 404, b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/chat/chat/completions":
            self._send(404, b"{}")
            return
        time.sleep(DELAY)
        req = urllib.request.Request(
            UPSTREAM + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with _NO_PROXY.open(req, timeout=30) as resp:
            self._send(resp.status, resp.read())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
