"""Limits on what the tool reads from an install and accepts as a value. A file beyond one is refused
with one line naming it; nothing is written. (docs/security.md lists them.)

Chatchat's own settings files are small (the largest, prompt settings, is tens of KiB, nested four or
five levels): each limit is far above what a real install holds and far below what makes a parser slow,
deep in recursion or out of memory.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# A settings file larger than this is refused before it is read (``os.fstat``, not by reading it).
# Chatchat's largest settings file is ~15 KiB; parsing YAML in pure Python costs ~2 s per MiB.
MAX_SETTINGS_BYTES = 256 * KIB

# A settings file holding more values than this (YAML nodes: every scalar, list and mapping; Python:
# syntax-tree nodes) is refused before it is parsed in full. Chatchat's files hold a few hundred; parsing
# costs ~40 µs (YAML) to ~60 µs (libcst) per node, so this bounds a parse to well under a second.
MAX_SETTINGS_NODES = 10_000

# Collections nested deeper than this (lists, dicts/mappings, and in Python any nested expression:
# brackets, operators, calls) are refused before the file reaches libcst or ruamel's composer, whose
# recursion overflows the Python stack a few hundred levels down (libcst's native parser crashes the
# process on C stack overflow tens of thousands of levels down).
MAX_NESTING_DEPTH = 100

# Integers written with more characters than this are refused (Python refuses to convert more than
# 4,300 digits; such numbers also overflow float conversion, and no setting needs them).
MAX_INT_DIGITS = 100

# A YAML file whose aliases (``*name``) would expand its data to more nodes than this is refused
# (the "billion laughs" bomb): the tool never expands aliases itself, but comparing values would.
MAX_ALIAS_EXPANDED_NODES = 100_000

# A value given with --set or in a plan file longer than this is refused.
MAX_VALUE_CHARS = 2048

# Integer knobs (api_concurrencies, max_retries, num_parallel, ...) above this are refused.
MAX_INT_VALUE = 2**31 - 1

# Timeouts in seconds above this (about 116 days) are refused: no setting needs more, and from ~1e10 s
# on, Python's socket.settimeout raises OverflowError in the Chatchat process that reads the value.
MAX_SECONDS = 10_000_000


def size_text(size: int) -> str:
    """``52428800`` → ``"50.0 MiB"``, ``262144`` → ``"256 KiB"``, ``300`` → ``"300 bytes"``."""
    if size >= MIB:
        return f"{size / MIB:.1f} MiB"
    if size >= KIB:
        return f"{size / KIB:.0f} KiB"
    return f"{size} bytes"
