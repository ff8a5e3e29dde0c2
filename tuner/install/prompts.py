"""How long the prompts an install sends can get: its knowledge-base and history settings. Pure.

Chatchat's knowledge-base chat puts ``VECTOR_SEARCH_TOP_K`` chunks of up to ``CHUNK_SIZE`` characters into
one prompt (its splitters measure chunks with ``len``, in characters), after ``HISTORY_LEN`` rounds of
history. The names are the same in every version (0.2.x ``kb_config.py``/``model_config.py``, 0.3.0's
workspace, 0.3.1+ ``kb_settings.yaml``/``model_settings.yaml``), so they are looked up in whichever file
holds them; the environment overrides a file as Chatchat's own settings loader lets it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tuner.install.environ import effective_number
from tuner.install.files import LoadedInstall

# Assumptions of the estimate (stated in docs/doctor.md, shown in the evidence):
TOKENS_PER_CHAR = 0.7  # Chinese text under Qwen-family tokenizers, roughly; English text is nearer 0.25
TEMPLATE_TOKENS = 200  # the RAG prompt template and the question
HISTORY_ROUND_TOKENS = 400  # one question and its answer, kept as history


@dataclass(frozen=True, kw_only=True)
class PromptSize:
    top_k: int
    chunk_chars: int
    history_rounds: int
    sources: tuple[str, ...]  # where each value was read ("kb_settings.yaml VECTOR_SEARCH_TOP_K", ...)

    @property
    def kb_tokens(self) -> int:
        return math.ceil(self.top_k * self.chunk_chars * TOKENS_PER_CHAR)

    @property
    def tokens(self) -> int:
        """The longest knowledge-base prompt, estimated in tokens."""
        return self.kb_tokens + TEMPLATE_TOKENS + self.history_rounds * HISTORY_ROUND_TOKENS


def _setting(loaded: LoadedInstall, key: str) -> tuple[int | None, str]:
    for role in loaded.files:
        if key in loaded.data(role) or key.lower() in loaded.data(role):
            value, source = effective_number(loaded, role, key)
            ok = value is not None and value >= 0 and value == int(value)
            return (int(value) if ok and value is not None else None), source
    return None, "-"


def prompt_size(loaded: LoadedInstall) -> PromptSize | None:
    """The install's knowledge-base prompt size, or None when it has no such settings."""
    top_k, k_src = _setting(loaded, "VECTOR_SEARCH_TOP_K")
    chunk, c_src = _setting(loaded, "CHUNK_SIZE")
    if top_k is None or chunk is None:
        return None
    history, h_src = _setting(loaded, "HISTORY_LEN")
    sources = (k_src, c_src) + ((h_src,) if history is not None else ())
    return PromptSize(top_k=top_k, chunk_chars=chunk, history_rounds=history or 0, sources=sources)
