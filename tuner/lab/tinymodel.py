"""A tiny, seeded, random-weight llama GGUF for the lab's ``llama-cpp`` engine.

The model is real to llama.cpp (it loads, tokenizes, applies its chat template, generates and embeds) but
its weights are noise: it measures the serving path, not answer quality. It is built here, offline, with
the ``gguf`` package: a SentencePiece-style ("llama") vocabulary of control tokens, the 256 byte-fallback
tokens and a few hundred word pieces, a Jinja chat template, and 2 blocks 64 wide.

Two choices make measurements repeatable: the same seed writes the same bytes, and the output rows of
the control and byte tokens are zero, so the model never samples end-of-sequence or stray bytes: every
generation runs to its token cap (``done_reason: length``) and decodes to printable text.
"""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.errors import UserError

FORMAT_VERSION = 1  # bump when the bytes written for a seed change
DEFAULT_SEED = 0
CACHE_ENV = "CHATCHAT_TUNE_CACHE"

# Token types of a SentencePiece ("llama") GGUF vocabulary (gguf.TokenType).
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6

_WORDS_TEXT = (
    "the of and to in is that it for was on are as with be at by this have from or one had not but what "
    "all were when we there can an your which their said if do will each about how up out them then she "
    "many some so these would other into has more her two like him see time could no make than first "
    "been its who now people my made over did down only way find use may water long little very after "
    "words called just where most know get through back much before go good new write our used me man "
    "too any day same right look think also around another came come work three word must because does "
    "part even place well such here take why things help put years different away again off went old "
    "number great tell men say small every found still between name should home big give air line set "
    "own under read last never us left end along while might next sound below saw something thought both "
    "few those always looked show large often together asked house world going want school important "
    "until form food keep children feet land side without boy once animals life enough took sometimes "
    "four head above kind began almost live page got earth need far hand high year mother light parts "
    "country father let night following picture being study second eyes soon times story boys since "
    "white days ever paper hard near sentence better best across during today others however sure means "
    "knew model server request latency token answer question chat stream load memory timeout ollama "
    "chatchat settings connection client fast slow wait ready hello yes thanks please data file"
)
_HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可你说好模型请问答"
_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ".,;:!?'\"()[]{}<>|/\\-_=+*&%$#@~`^，。？！：；、（）"
)
_SPACE = "\u2581"  # SentencePiece's visible space

# Roles as plain text, turns ended by the end-of-sequence token; the template starts with BOS itself.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    """The model's dimensions (llama architecture)."""

    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_ff: int = 192
    n_ctx_train: int = 8192
    rms_eps: float = 1e-5
    rope_base: float = 10000.0


TINY = TinyShape()


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """The tokens, scores and token types: specials, byte fallbacks, single characters, word pieces.

    Every word comes with all its prefixes (``▁h``, ``▁he``, ``▁hel`` …) so that llama.cpp's SentencePiece
    merge, which joins adjacent pieces only when the joined piece is in the vocabulary, can reach it.
    """
    tokens = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    pieces: list[str] = [_SPACE]
    seen = set(pieces)
    for ch in _CHARS + _HAN:
        if ch not in seen:
            seen.add(ch)
            pieces.append(ch)
    for word in [*_WORDS_TEXT.split(), *_HAN]:
        piece = _SPACE + word
        for end in range(2, len(piece) + 1):
            prefix = piece[:end]
            if prefix not in seen:
                seen.add(prefix)
                pieces.append(prefix)
    tokens += pieces
    types += [_NORMAL] * len(pieces)
    # Longer pieces score higher, so the merge prefers whole words; ties keep list order.
    scores = [0.0] * (3 + 256) + [float(len(p)) - i * 1e-4 for i, p in enumerate(pieces)]
    return tokens, scores, types


def default_cache_dir() -> Path:
    """``$CHATCHAT_TUNE_CACHE``, else the user cache dir: ``%LOCALAPPDATA%``, ``~/Library/Caches`` or XDG."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "chatchat-tune" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "chatchat-tune"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "chatchat-tune"


def tiny_model_name(seed: int = DEFAULT_SEED) -> str:
    return f"tiny-llama-v{FORMAT_VERSION}-s{seed}.gguf"


def ensure_tiny_model(cache_dir: Path | None = None, seed: int = DEFAULT_SEED) -> Path:
    """The tiny model's path, writing it first if it is not in ``cache_dir`` yet (atomic; idempotent)."""
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    path = directory / tiny_model_name(seed)
    if _looks_complete(path):
        return path
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the model cache folder: {err.strerror}", directory) from None
    # A unique sibling name (created by the writer with the default mode), then an atomic rename.
    tmp = directory / f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write_tiny_model(tmp, seed=seed)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if _looks_complete(path):  # another process won the race (on Windows its file may be in use)
            return path
        raise UserError(f"cannot write the tiny model: {err.strerror}", path) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _looks_complete(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"GGUF" and path.stat().st_size > 4096
    except OSError:
        return False


# general.file_type of each weight type offered (llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0).
_FILE_TYPES = {"F32": 0, "F16": 1, "Q8_0": 7}


def write_tiny_model(
    path: Path, seed: int = DEFAULT_SEED, shape: TinyShape = TINY, weight_type: str = "F32"
) -> None:
    """Write the model to ``path`` (overwriting). Same seed, shape and type, same bytes.

    ``weight_type`` (``F32``, ``F16`` or ``Q8_0``) applies to the blocks' matrices; the cached model is
    F32. A quantized one exercises llama.cpp's quantized kernels, as every real model does.
    """
    gguf = _import_gguf()
    import numpy as np

    if weight_type not in _FILE_TYPES:
        raise ValueError(f"weight_type must be one of {', '.join(_FILE_TYPES)}")

    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    head_dim = shape.n_embd // shape.n_head
    rng = np.random.default_rng(seed)

    def normal(rows: int, cols: int, std: float) -> Any:
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", f"chatchat-tune tiny llama (seed {seed})")
    writer.add_uint32("general.file_type", _FILE_TYPES[weight_type])
    writer.add_uint32("llama.context_length", shape.n_ctx_train)
    writer.add_uint32("llama.embedding_length", shape.n_embd)
    writer.add_uint32("llama.block_count", shape.n_layer)
    writer.add_uint32("llama.feed_forward_length", shape.n_ff)
    writer.add_uint32("llama.attention.head_count", shape.n_head)
    writer.add_uint32("llama.attention.head_count_kv", shape.n_head)
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", shape.rms_eps)
    writer.add_uint32("llama.rope.dimension_count", head_dim)
    writer.add_float32("llama.rope.freq_base", shape.rope_base)
    writer.add_uint32("llama.vocab_size", n_vocab)
    writer.add_uint32("llama.pooling_type", 1)  # mean: what an embedding context pools with
    writer.add_string("tokenizer.ggml.model", "llama")
    writer.add_array("tokenizer.ggml.tokens", tokens)
    writer.add_array("tokenizer.ggml.scores", scores)
    writer.add_array("tokenizer.ggml.token_type", types)
    writer.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    writer.add_uint32("tokenizer.ggml.bos_token_id", 1)
    writer.add_uint32("tokenizer.ggml.eos_token_id", 2)
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_bool("tokenizer.ggml.add_eos_token", False)
    writer.add_bool("tokenizer.ggml.add_space_prefix", True)
    writer.add_string("tokenizer.chat_template", CHAT_TEMPLATE)

    # numpy shape is (rows, cols) = GGUF (ne1, ne0): llama.cpp wants token_embd/output as {n_embd, n_vocab}.
    in_std = shape.n_embd**-0.5

    def add_matrix(name: str, data: Any) -> None:
        if weight_type == "F32":
            writer.add_tensor(name, data)
        elif weight_type == "F16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            qtype = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)

    writer.add_tensor("token_embd.weight", normal(n_vocab, shape.n_embd, 1.0))
    for i in range(shape.n_layer):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add_matrix(f"{blk}.{name}.weight", normal(shape.n_embd, shape.n_embd, in_std))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        add_matrix(f"{blk}.ffn_gate.weight", normal(shape.n_ff, shape.n_embd, in_std))
        add_matrix(f"{blk}.ffn_up.weight", normal(shape.n_ff, shape.n_embd, in_std))
        add_matrix(f"{blk}.ffn_down.weight", normal(shape.n_embd, shape.n_ff, shape.n_ff**-0.5))
    writer.add_tensor("output_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
    # Logits ~ N(0, 4²); the zero rows (control and byte tokens) sit far below the top-k and are never drawn.
    output = normal(n_vocab, shape.n_embd, 0.5)
    output[[i for i, t in enumerate(types) if t != _NORMAL]] = 0.0
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _import_gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise UserError(
            "writing the tiny model needs the gguf package: pip install 'chatchat-tune[llama]'"
        ) from None
    return gguf
