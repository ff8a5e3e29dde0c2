"""The one error type a user sees: a file (when there is one) and a one-line reason."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input or a refused operation. The CLI prints ``str(err)`` on one line and exits 1."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)
