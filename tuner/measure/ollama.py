"""Ollama's native admin calls the tuner needs: load state, preload with a keep_alive, unload."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tuner.errors import UserError


@dataclass(frozen=True)
class Loaded:
    name: str
    size: int
    size_vram: int
    expires_at: str


def _post(root: str, path: str, body: dict[str, object], timeout: float) -> dict[str, object]:
    try:
        resp = httpx.post(root.rstrip("/") + path, json=body, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise UserError(f"{root}{path}: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise UserError(f"{root}{path}: HTTP {resp.status_code} {resp.text[:200]}")
    data = resp.json()
    return data if isinstance(data, dict) else {}


def ps(root: str, timeout: float = 10.0) -> list[Loaded]:
    try:
        resp = httpx.get(root.rstrip("/") + "/api/ps", timeout=timeout, trust_env=False)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise UserError(f"{root}/api/ps: {type(exc).__name__}: {exc}") from None
    return [
        Loaded(
            str(m.get("name") or m.get("model")),
            int(m.get("size", 0)),
            int(m.get("size_vram", 0)),
            str(m.get("expires_at", "")),
        )
        for m in resp.json().get("models", [])
    ]


def preload(root: str, model: str, keep_alive: object = None, timeout: float = 600.0) -> float:
    """Load ``model`` (a request with no prompt) and return the wall time it took, in seconds.

    Ollama's answer to a preload (``done_reason: "load"``) carries no durations, so the clock is ours."""
    body: dict[str, object] = {"model": model}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    t0 = time.perf_counter()
    _post(root, "/api/generate", body, timeout)
    return time.perf_counter() - t0


def unload(root: str, model: str, timeout: float = 60.0) -> None:
    _post(root, "/api/generate", {"model": model, "keep_alive": 0}, timeout)


def _tagged(name: str) -> str:
    """Ollama's names: ``qwen2`` is ``qwen2:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def find_loaded(root: str, model: str) -> Loaded | None:
    """The model's entry in ``/api/ps`` (exact name and tag), or None when it is not loaded."""
    wanted = _tagged(model)
    return next((m for m in ps(root) if _tagged(m.name) == wanted), None)


def is_loaded(root: str, model: str) -> bool:
    return find_loaded(root, model) is not None
