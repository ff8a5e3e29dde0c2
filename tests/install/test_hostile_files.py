"""Hostile settings files and hostile values: one line naming the file (or value), exit 1, nothing written.

Every case runs the real CLI in a subprocess (a crash of the parser would show as a negative exit code, a
hang as a timeout) and compares a digest of the whole tmp folder before and after.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Run, assert_refused, run_cli, tree_digest
from tuner.limits import MAX_NESTING_DEPTH, MAX_SETTINGS_NODES, MIB

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symlinks as on POSIX")

V031, V02, V030 = "chatchat-0.3.1", "chatchat-0.2.10", "chatchat-0.3.0"
SETTING = {V031: "api_timeout=42", V02: "api_timeout=42", V030: "api_timeout=42"}
ALL = ("inspect", "dry-run", "apply")
EDITS = ("dry-run", "apply")


@dataclass(frozen=True)
class Case:
    id: str
    fixture: str
    build: Callable[[Path], None]
    needles: tuple[str, ...]
    commands: tuple[str, ...] = ALL
    setting: str | None = None  # what apply sets (default: SETTING[fixture])


def append(rel: str, text: str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        path = root / rel
        path.write_bytes(path.read_bytes() + text.encode("utf-8"))

    return build


def replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        path = root / rel
        text = path.read_text("utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), "utf-8")

    return build


def swap(rel: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    """Put something else where the settings file ``rel`` was."""

    def build(root: Path) -> None:
        path = root / rel
        path.unlink()
        make(path)

    return build


def fifo(path: Path) -> None:
    os.mkfifo(path)


def folder(path: Path) -> None:
    path.mkdir()
    (path / "inside.yaml").write_text("a: 1\n")


def dangling(path: Path) -> None:
    path.symlink_to(path.parent / "gone.yaml")


def looping(path: Path) -> None:
    path.symlink_to(path.name)  # points at itself


def outside(path: Path) -> None:
    target = path.parent.parent / f"outside-{path.name}"
    target.write_text("x: 1\n")
    path.symlink_to(target)


def huge(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as f:  # sparse: the tool must refuse it by its size, without reading it
            f.write(b"a: 1\n")
            f.seek(size - 1)
            f.write(b"\n")

    return make


def deep_flow(depth: int) -> str:
    return "DEEP: " + "[" * depth + "]" * depth + "\n"


def laughs(levels: int = 9) -> str:
    """The billion laughs: 9 aliases of 9 aliases of ... (9**levels leaves), a few hundred bytes."""
    lines = ['LOL0: &l0 "lol"']
    for n in range(1, levels + 1):
        lines.append(f"LOL{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def bomb_in_ollama_entry(path: Path) -> None:
    """The bomb's anchors at the top, its last alias as the llm_models of the entry an edit changes."""
    text = path.read_text("utf-8")
    models = "    llm_models:\n      - qwen:7b\n      - qwen2:7b\n"
    assert models in text
    path.write_text(laughs() + text.replace(models, "    llm_models: *l9\n"), "utf-8")


OLLAMA_ENTRY = """  - platform_name: ollama
    platform_type: ollama
    api_base_url: http://127.0.0.1:11435/v1
    api_key: EMPTY
"""

SHADOW = 'if sys.platform == "win32":\n    HTTPX_DEFAULT_TIMEOUT = 60.0\n'

BASIC, MODEL, TOOL = "basic_settings.yaml", "model_settings.yaml", "tool_settings.yaml"
SERVER, MODEL_PY = "configs/server_config.py", "configs/model_config.py"

CASES = [
    # --- YAML (0.3.1+) -------------------------------------------------------------------------------------
    Case(
        "yaml-duplicate-platform",
        V031,
        replace(MODEL, "  - platform_name: oneapi\n", OLLAMA_ENTRY + "  - platform_name: oneapi\n"),
        (MODEL, "2 entries have platform_name: ollama"),
        setting="ollama_url[ollama]=http://127.0.0.1:11434/v1",
    ),
    Case(
        "yaml-duplicate-key",
        V031,
        append(BASIC, "HTTPX_DEFAULT_TIMEOUT: 60.0\n"),
        (BASIC, "duplicate key"),
    ),
    Case("yaml-nested-1000", V031, append(BASIC, deep_flow(1000)), (BASIC, "nested more than 100")),
    Case("yaml-nested-50000", V031, append(BASIC, deep_flow(50_000)), (BASIC, "nested more than 100")),
    Case(
        "yaml-nested-block-300",
        V031,
        append(TOOL, "".join(" " * i + f"k{i}:\n" for i in range(300)) + " " * 300 + "v: 1\n"),
        (TOOL, "nested more than 100"),
        ("inspect",),
    ),
    Case(
        "yaml-nested-dashes-50000",
        V031,
        append(TOOL, "DEEP:\n" + "- " * 50_000 + "x\n"),
        (TOOL, "nested more than 100"),
        ("inspect",),
    ),
    Case(
        "yaml-int-5000-digits",
        V031,
        replace(BASIC, "HTTPX_DEFAULT_TIMEOUT: 300.0", "HTTPX_DEFAULT_TIMEOUT: " + "9" * 5000),
        (BASIC, "integer of 5000 characters"),
    ),
    Case(
        "yaml-binary-int",
        V031,
        append(TOOL, "BIG: 0b" + "1" * 20_000 + "\n"),
        (TOOL, "integer of"),
        ("inspect",),
    ),
    Case(
        "yaml-complex-key-list", V031, append(BASIC, "? [a, b]\n: 1\n"), (BASIC, "list used as a mapping key")
    ),
    Case(
        "yaml-complex-key-mapping",
        V031,
        append(BASIC, "{a: 1}: 2\n"),
        (BASIC, "mapping used as a mapping key"),
        ("inspect", "dry-run"),
    ),
    Case("yaml-alias-bomb", V031, append(BASIC, laughs()), (BASIC, "aliases (*name) would expand")),
    Case(
        "yaml-alias-bomb-in-edited-entry",
        V031,
        lambda root: bomb_in_ollama_entry(root / MODEL),
        (MODEL, "aliases (*name) would expand"),
        setting="ollama_url[ollama]=http://127.0.0.1:11434/v1",
    ),
    Case(
        "yaml-alias-self", V031, append(BASIC, "LOOP: &x [*x]\n"), (BASIC, "alias refers to its own anchor")
    ),
    Case(
        "yaml-anchor-on-edited-value",
        V031,
        replace(MODEL, "    api_concurrencies: 5\n", "    api_concurrencies: &c 5\n"),
        (MODEL, "anchor (&c)"),
        EDITS,
        setting="api_concurrencies[xinference]=2",
    ),
    Case(
        "yaml-2mb-list",
        V031,
        append(TOOL, "BIG: [" + "1, " * (700_000) + "1]\n"),
        (TOOL, "is 2.0 MiB; settings files over 256 KiB are refused"),
        ("inspect", "dry-run"),
    ),
    Case(
        "yaml-50mb",
        V031,
        swap(BASIC, huge(50 * MIB)),
        (BASIC, "is 50.0 MiB; settings files over 256 KiB are refused"),
    ),
    Case(
        "yaml-too-many-values",
        V031,
        append(TOOL, "MANY: [" + ",".join(["1"] * (MAX_SETTINGS_NODES + 10)) + "]\n"),
        (TOOL, f"more than {MAX_SETTINGS_NODES:,} values"),
        ("inspect",),
    ),
    Case("yaml-nul", V031, append(BASIC, "x: a\x00b\n"), (BASIC, "NUL byte")),
    Case("yaml-not-utf8", V031, lambda root: (root / BASIC).write_bytes(b"a: \xff\xfe\n"), (BASIC, "UTF-8")),
    Case("yaml-fifo", V031, swap(BASIC, fifo), (BASIC, "named pipe (FIFO)")),
    Case("yaml-fifo-model", V031, swap(MODEL, fifo), (MODEL, "named pipe (FIFO)"), ("inspect",)),
    Case("yaml-folder", V031, swap(MODEL, folder), (MODEL, "is a folder")),
    Case("yaml-dangling-link", V031, swap(BASIC, dangling), (BASIC, "link to a missing file")),
    Case("yaml-looping-link", V031, swap(TOOL, looping), (TOOL, "symbolic link loop")),
    Case("yaml-link-outside", V031, swap(BASIC, outside), (BASIC, "leaves the install")),
    # --- Python (0.2.x) ------------------------------------------------------------------------------------
    Case(
        "py-nested-1000",
        V02,
        append(SERVER, "DEEP = " + "[" * 1000 + "]" * 1000 + "\n"),
        (SERVER, "nested"),
    ),
    Case(
        "py-nested-50000",
        V02,
        append(SERVER, "DEEP = " + "[" * 50_000 + "]" * 50_000 + "\n"),
        (SERVER, "nested"),
    ),
    Case("py-unary-50000", V02, append(SERVER, "DEEP = " + "-" * 50_000 + "1\n"), (SERVER, "nested")),
    Case(
        "py-binop-50000",
        V02,
        append(SERVER, "DEEP = " + "+".join(["1"] * 50_000) + "\n"),
        (SERVER, "nested"),
        ("inspect",),
    ),
    Case(
        "py-calls-50000",
        V02,
        append(SERVER, "DEEP = f" + "()" * 50_000 + "\n"),
        (SERVER, "nested"),
        ("inspect",),
    ),
    Case(
        "py-concat-1000",
        V02,
        append(SERVER, "DEEP = (" + " ".join(['"a"'] * 1000) + ")\n"),
        (SERVER, "nested"),
        ("inspect",),
    ),
    Case(
        "py-int-5000-digits",
        V02,
        replace(SERVER, "HTTPX_DEFAULT_TIMEOUT = 300.0", "HTTPX_DEFAULT_TIMEOUT = " + "9" * 5000),
        (SERVER, "more than 4,300 digits"),
    ),
    Case(
        "py-hex-int",
        V02,
        append(MODEL_PY, "BIG = 0x" + "f" * 20_000 + "\n"),
        (MODEL_PY, "integer of more than 100 digits"),
        ("inspect",),
    ),
    Case(
        "py-conditional-reassignment",
        V02,
        append(SERVER, SHADOW),
        (SERVER, "HTTPX_DEFAULT_TIMEOUT is assigned again on line", "inside an if block"),
        EDITS,
    ),
    Case(
        "py-later-tuple-assignment",
        V02,
        append(SERVER, "HTTPX_DEFAULT_TIMEOUT, OTHER = 60.0, 1\n"),
        (SERVER, "HTTPX_DEFAULT_TIMEOUT is assigned again on line"),
        EDITS,
    ),
    Case(
        "py-global-in-function",
        V02,
        append(SERVER, "def _tune():\n    global HTTPX_DEFAULT_TIMEOUT\n    HTTPX_DEFAULT_TIMEOUT = 5\n"),
        (SERVER, "inside function _tune"),
        EDITS,
    ),
    Case(
        "py-later-item-assignment",
        V02,
        append(MODEL_PY, 'ONLINE_LLM_MODEL["openai-api"]["api_base_url"] = "http://10.0.0.1:11434/v1"\n'),
        (MODEL_PY, "ONLINE_LLM_MODEL is changed in place on line"),
        EDITS,
        setting="ollama_url=http://127.0.0.1:11434/v1",
    ),
    Case(
        "py-duplicate-dict-key",
        V02,
        replace(
            MODEL_PY,
            '    "openai-api": {\n',
            '    "openai-api": {"api_base_url": "http://10.0.0.1:11434/v1"},\n    "openai-api": {\n',
        ),
        (MODEL_PY, "ONLINE_LLM_MODEL has the key 'openai-api' twice"),
        EDITS,
        setting="ollama_url=http://127.0.0.1:11434/v1",
    ),
    Case("py-nul", V02, append(SERVER, "# \x00\n"), (SERVER, "NUL byte")),
    Case("py-fifo", V02, swap(SERVER, fifo), (SERVER, "named pipe (FIFO)")),
    Case("py-folder", V02, swap(MODEL_PY, folder), (MODEL_PY, "is a folder"), ("inspect", "apply")),
    Case(
        "py-dangling-link",
        V02,
        swap(SERVER, dangling),
        (SERVER, "link to a missing file"),
        ("inspect", "apply"),
    ),
    Case(
        "py-looping-link", V02, swap(SERVER, looping), (SERVER, "symbolic link loop"), ("inspect", "dry-run")
    ),
    Case(
        "py-50mb",
        V02,
        swap(SERVER, huge(50 * MIB)),
        (SERVER, "is 50.0 MiB; settings files over 256 KiB are refused"),
        ("inspect", "dry-run"),
    ),
    Case(
        "py-too-many-values",
        V02,
        append(SERVER, "MANY = [" + ",".join(["1"] * (MAX_SETTINGS_NODES + 10)) + "]\n"),
        (SERVER, f"more than {MAX_SETTINGS_NODES:,} values"),
        ("inspect",),
    ),
    # --- JSON (0.3.0 workspace: read by inspect) -----------------------------------------------------------
    Case(
        "json-nested-900",
        V030,
        lambda root: (root / ".chatchat/workspace/workspace_config.json").write_text("[" * 900 + "]" * 900),
        ("workspace_config.json", f"nested more than {MAX_NESTING_DEPTH} levels"),
        ("inspect",),
    ),
    Case(
        "json-nested-50000",
        V030,
        lambda root: (root / ".chatchat/workspace/workspace_config.json").write_text(
            "[" * 50_000 + "]" * 50_000
        ),
        ("workspace_config.json", "nested more than"),
        ("inspect",),
    ),
    Case(
        "json-fifo",
        V030,
        swap(".chatchat/workspace/workspace_config.json", fifo),
        ("workspace_config.json", "named pipe (FIFO)"),
        ("inspect",),
    ),
]


def run(command: str, root: Path, setting: str) -> Run:
    if command == "inspect":
        return run_cli("inspect", "--root", str(root))
    dry = ("--dry-run",) if command == "dry-run" else ()
    return run_cli("apply", "--root", str(root), *dry, "--set", setting)


@pytest.mark.parametrize(
    ("case", "command"),
    [pytest.param(c, cmd, id=f"{c.id}-{cmd}") for c in CASES for cmd in c.commands],
)
def test_hostile_file_is_refused_in_one_line_and_nothing_is_written(
    install: Callable[[str], Path], case: Case, command: str
) -> None:
    root = install(case.fixture)
    case.build(root)
    before = tree_digest(root.parent)
    result = run(command, root, case.setting or SETTING[case.fixture])
    assert result.code >= 0, f"killed by signal {-result.code}"
    assert_refused(result, *case.needles)
    assert tree_digest(root.parent) == before


def test_a_shadowed_value_is_shown_with_the_reason_by_inspect(install: Callable[[str], Path]) -> None:
    root = install(V02)
    append(SERVER, SHADOW)(root)
    result = run_cli("inspect", "--root", str(root))
    assert result.code == 0, result.err
    assert "HTTPX_DEFAULT_TIMEOUT is assigned again on line" in result.out


# --- values: validated before anything is built ------------------------------------------------------------

VALUES = [
    ("ipv6-unclosed", V031, "ollama_url=http://[::1/v1", ("ollama_url", "Invalid IPv6 URL")),
    ("ipv6-bad", V02, "ollama_url=http://[::zz]:11434/v1", ("ollama_url", "IPv6")),
    ("url-newline-yaml", V031, "ollama_url=http://x\n  api_key: y", ("ollama_url", "'\\n'")),
    ("url-newline-python", V02, 'ollama_url=http://x",\n"api_key": "y', ("ollama_url", "cannot hold")),
    ("url-quote", V02, 'ollama_url=http://127.0.0.1:11434/v1"', ("ollama_url", "cannot hold unescaped")),
    ("url-space", V031, "ollama_url=http://exa mple/v1", ("ollama_url", "cannot hold unescaped")),
    ("url-control", V031, "ollama_url=http://127.0.0.1:11434/v1\x1b[2J", ("ollama_url", "cannot hold")),
    ("url-port-0", V02, "ollama_url=http://127.0.0.1:0/v1", ("ollama_url", "invalid port")),
    ("url-port-big", V031, "ollama_url=http://127.0.0.1:99999/v1", ("ollama_url", "not a valid URL")),
    ("timeout-brace", V031, "api_timeout=1}", ("api_timeout", "not a number of seconds")),
    ("timeout-yaml", V031, "api_timeout=1\nlog_verbose: true", ("api_timeout", "control character")),
    ("timeout-python", V02, "api_timeout=1  # x", ("api_timeout", "not a number of seconds")),
    ("timeout-huge", V02, "api_timeout=1e400", ("api_timeout", "finite number")),
    ("timeout-5000-digits", V031, "api_timeout=" + "9" * 5000, ("api_timeout", "too long")),
    ("int-huge", V031, "api_concurrencies[ollama]=" + "9" * 30, ("api_concurrencies", "not an integer")),
    ("int-over-limit", V031, "api_concurrencies[ollama]=4294967296", ("api_concurrencies", "at most")),
    ("host-newline", V02, "bind_host=0.0.0.0\nX = 1", ("bind_host", "not a host name")),
    ("host-quote", V031, "bind_host=0.0.0.0'", ("bind_host", "not a host name")),
    ("proxy-quote", V02, "proxy=http://p:3128/'\"", ("proxy", "cannot hold unescaped")),
    ("keep-alive-newline", V031, "keep_alive=5m\nOLLAMA_HOST=0.0.0.0", ("keep_alive", "control character")),
    (
        "entry-newline",
        V031,
        "ollama_url[oll\nama]=http://127.0.0.1:11434/v1",
        ("ollama_url", "not an entry name"),
    ),
]


@pytest.mark.parametrize(
    ("fixture", "setting", "needles", "command"),
    [pytest.param(f, s, n, cmd, id=f"{i}-{cmd}") for i, f, s, n in VALUES for cmd in EDITS],
)
def test_hostile_value_is_refused_in_one_line(
    install: Callable[[str], Path], fixture: str, setting: str, needles: tuple[str, ...], command: str
) -> None:
    root = install(fixture)
    before = tree_digest(root.parent)
    assert_refused(run(command, root, setting), *needles)
    assert tree_digest(root.parent) == before


@pytest.mark.parametrize(
    ("knob", "entry", "value", "needle"),
    [
        ("ollama_url", "ollama", "http://x\n  timeout: 1", "cannot hold unescaped"),
        ("api_timeout", None, "60", "not a number of seconds"),
        ("api_concurrencies", "ollama", 10**40, "at most"),
        (7, None, 1, "knob"),
    ],
)
def test_hostile_value_in_a_plan_file_is_refused(
    install: Callable[[str], Path], knob: object, entry: object, value: object, needle: str
) -> None:
    root = install(V031)
    plan = root.parent / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "chatchat-tune-plan": 1,
                "root": str(root.resolve()),
                "generation": "0.3.1",
                "settings": [{"knob": knob, "entry": entry, "value": value}],
                "files": [],
            }
        )
    )
    before = tree_digest(root.parent)
    assert_refused(
        run_cli("apply", "--plan", str(plan), "--root", str(root), "--dry-run"), "plan.json", needle
    )
    assert tree_digest(root.parent) == before
