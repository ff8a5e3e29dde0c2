"""One SSL context for the tool's own clients.

httpx builds a new ``ssl.SSLContext`` for every client and loads the system's certificate bundle into it
(tens of milliseconds), even when the client only ever speaks plain http. The tool's own admin and
measuring clients share this one instead. A trial that reproduces what Chatchat pays per request builds
its client the way Chatchat does (:func:`tuner.search.trial.chatchat_client_cost`), certificates and all.
"""

from __future__ import annotations

import ssl
import threading

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_context() -> ssl.SSLContext:
    """The process's one verifying SSL context (built on first use, then reused by every client)."""
    global _context
    with _lock:
        if _context is None:
            import httpx

            _context = httpx.create_ssl_context()
        return _context
