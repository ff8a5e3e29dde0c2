"""Request bodies and response readers for the three paths. Pure: bytes/lines in, facts out.

A request is complete only when the protocol says so: natively the ``done: true`` object; on /v1 a
``finish_reason`` and, when streaming, ``data: [DONE]``. Token counts come from the server only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tuner.measure.workload import PathKind

ROUTES: dict[PathKind, str] = {
    "native": "/api/chat",
    "openai": "/v1/chat/completions",
    "chatchat": "/chat/chat/completions",
    "kb": "/chat/kb_chat",  # 0.3.x; the install's own route is asked of its layout (tuner.measure.kb)
    "search": "/knowledge_base/search_docs",
}


def request_body(
    path: PathKind,
    model: str,
    prompt: str,
    *,
    stream: bool,
    max_tokens: int | None,
    keep_alive: object = None,
) -> dict[str, Any]:
    messages = [{"role": "user", "content": prompt}]
    if path == "native":
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        if max_tokens is not None:
            body["options"] = {"num_predict": max_tokens}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        return body
    body = {"model": model, "messages": messages, "stream": stream}
    if max_tokens is not None:
        body["max_tokens"] = (
            max_tokens  # honoured by Ollama and llama.cpp alike (max_completion_tokens is not)
        )
    if stream and path == "openai":
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass
class Outcome:
    """What a response said, filled in as lines arrive."""

    complete: bool = False
    error: str | None = None  # server-reported error message
    tokens: int | None = None
    prompt_tokens: int | None = None
    done_reason: str | None = None
    load: float | None = None  # native only: seconds
    prompt_eval: float | None = None
    eval: float | None = None
    text_chars: int = 0


def _ns(value: object) -> float | None:
    return value / 1e9 if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Reader:
    """Feed response lines (streaming) or the whole body (not streaming); ``feed`` returns True on the
    line that carries the first content."""

    def __init__(self, path: PathKind, stream: bool) -> None:
        self.path, self.stream = path, stream
        self.out = Outcome()
        self._seen_content = False
        self._finish: str | None = None
        self._done_marker = False

    def feed(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return False
        if self.path == "native":
            return self._native(line)
        if not self.stream:
            return self._openai_object(line)
        if line.startswith(":"):  # SSE comment / keep-alive ping
            return False
        if not line.startswith("data:"):
            return False
        data = line[5:].strip()
        if data == "[DONE]":
            self._done_marker = True
            self._settle()
            return False
        return self._openai_object(data)

    def _content(self, text: object) -> bool:
        if isinstance(text, str) and text:
            self.out.text_chars += len(text)
            if not self._seen_content:
                self._seen_content = True
                return True
        return False

    def _native(self, line: str) -> bool:
        obj = _json(line)
        if obj is None:
            self.out.error = "malformed response line"
            return False
        if "error" in obj:
            self.out.error = str(obj["error"])
            return False
        content = _dict(obj.get("message")).get("content") or obj.get("response")
        first = self._content(content)
        if obj.get("done") is True:
            self.out.complete = True
            self.out.done_reason = _str(obj.get("done_reason"))
            self.out.tokens = _int(obj.get("eval_count"))
            self.out.prompt_tokens = _int(obj.get("prompt_eval_count"))
            self.out.load = _ns(obj.get("load_duration"))
            self.out.prompt_eval = _ns(obj.get("prompt_eval_duration"))
            self.out.eval = _ns(obj.get("eval_duration"))
        return first

    def _openai_object(self, data: str) -> bool:
        obj = _json(data)
        if obj is None:
            self.out.error = "malformed response"
            return False
        if "error" in obj:
            err = obj["error"]
            self.out.error = str(err.get("message") if isinstance(err, dict) else err)
            return False
        first = False
        choices = obj.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            part = _dict(choice.get("delta") if self.stream else choice.get("message"))
            first = self._content(part.get("content")) or first
            finish = choice.get("finish_reason")
            if finish:
                self._finish = str(finish)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            tokens = _int(usage.get("completion_tokens"))
            prompt_tokens = _int(usage.get("prompt_tokens"))
            self.out.tokens = self.out.tokens if tokens is None else tokens
            self.out.prompt_tokens = self.out.prompt_tokens if prompt_tokens is None else prompt_tokens
        self._settle()
        return first

    def _settle(self) -> None:
        if self._finish is not None:
            self.out.done_reason = self._finish
            needs_marker = self.stream and self.path == "openai"
            self.out.complete = self._done_marker or not needs_marker

    def finish(self) -> Outcome:
        return self.out


def _json(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
