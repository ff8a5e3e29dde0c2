"""Cost against size: a look-up does not scan the entries on its way, and an edit parses the file once.

Both are counted, not timed: iterations over a list (the look-up tables are built on the first look-up,
then every look-up goes straight to its entry) and calls of the parsers (``libcst.parse_module``, ruamel's
``YAML.compose``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import libcst
import pytest
from ruamel.yaml.main import YAML

from tuner.edit import pyconfig, yamlconfig
from tuner.edit.api import editor_for
from tuner.edit.paths import EditError, Match, ValuePath

ENTRIES = 2_000


class Counted(list[Any]):
    """A list that counts how often it is iterated over."""

    iterations = 0

    def __iter__(self) -> Iterator[Any]:
        self.iterations += 1
        return super().__iter__()


@pytest.fixture
def yaml_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each YAML parse (compose) appends the text's length."""
    calls: list[int] = []
    real = YAML.compose

    def compose(self: YAML, stream: str) -> Any:
        calls.append(len(stream))
        return real(self, stream)

    monkeypatch.setattr(YAML, "compose", compose)
    return calls


@pytest.fixture
def py_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each libcst parse appends the text's length."""
    calls: list[int] = []
    real: Callable[..., Any] = libcst.parse_module

    def parse_module(source: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(source))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(libcst, "parse_module", parse_module)
    return calls


# --- YAML (0.3.1) -------------------------------------------------------------------------------------------


def url(i: int) -> str:
    return f"http://10.0.{i // 250}.{i % 250}:11434/v1"


def platforms_yaml(n: int) -> str:
    """API_TIMEOUT on line 2; entry i's platform_name on line 4 + 2i, its api_base_url on the next."""
    body = "".join(f"  - platform_name: p-{i}\n    api_base_url: {url(i)}\n" for i in range(n))
    return f"# platforms\nAPI_TIMEOUT: 60\nMODEL_PLATFORMS:\n{body}"


def at(name: str, *rest: str) -> ValuePath:
    return ("MODEL_PLATFORMS", Match("platform_name", name), *rest)


@pytest.fixture
def big_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 two-key entries hold ~10,000 values, the tools' limit for one file: raise it here."""
    monkeypatch.setattr(yamlconfig, "MAX_SETTINGS_NODES", 50_000)
    monkeypatch.setattr(pyconfig, "MAX_SETTINGS_NODES", 50_000)


@pytest.mark.usefixtures("big_limits")
def test_yaml_find_goes_straight_to_the_entry(yaml_parses: list[int]) -> None:
    doc = yamlconfig.parse(platforms_yaml(ENTRIES))
    (sequence,) = [v for k, v in doc._root.value if k.value == "MODEL_PLATFORMS"]
    sequence.value = Counted(sequence.value)
    for i in range(ENTRIES):
        found = doc.find(at(f"p-{i}", "api_base_url"))
        assert found is not None and (found.value, found.line) == (url(i), 5 + 2 * i)
    assert doc.find(at("p-missing", "api_base_url")) is None
    assert doc.find(at("p-7", "no_such_key")) is None
    assert sequence.value.iterations == 1  # the index, built once; no look-up scanned the list
    assert len(yaml_parses) == 1


@pytest.mark.usefixtures("big_limits")
def test_yaml_duplicates_are_still_refused_in_a_big_list() -> None:
    text = platforms_yaml(ENTRIES) + f"  - platform_name: p-7\n    api_base_url: {url(0)}\n"
    doc = yamlconfig.parse(text)
    with pytest.raises(
        EditError, match=r"is ambiguous: 2 entries have platform_name: p-7 \(lines 18, 4004\)"
    ):
        doc.find(at("p-7", "api_base_url"))
    with pytest.raises(EditError, match="ambiguous"):
        yamlconfig.set_values(text, {at("p-7", "api_base_url"): "http://x/v1"}, parsed=doc)
    assert doc.find(at("p-8", "api_base_url")) is not None  # the others are unaffected


def test_yaml_find_returns_a_fresh_value() -> None:
    doc = yamlconfig.parse("A:\n  - 1\n  - 2\n")
    first = doc.find(("A",))
    assert first is not None and isinstance(first.value, list)
    first.value.append(3)
    again = doc.find(("A",))
    assert again is not None and again.value == [1, 2]


@pytest.mark.usefixtures("big_limits")
def test_yaml_multi_edit_parses_once_more_to_check(yaml_parses: list[int]) -> None:
    text = platforms_yaml(ENTRIES)
    doc = yamlconfig.parse(text)
    changes: dict[ValuePath, object] = {
        ("API_TIMEOUT",): 77,
        at("p-0", "api_base_url"): "http://127.0.0.1:11434/v1",
        at("p-1500", "api_base_url"): "http://localhost:11434/v1",
        at("p-1999", "api_concurrencies"): 4,  # created
    }
    yaml_parses.clear()
    new = yamlconfig.set_values(text, changes, parsed=doc)
    assert yaml_parses == [len(new)]  # only the check of the result
    yaml_parses.clear()
    assert yamlconfig.set_values(text, changes) == new  # without it: parsed, then checked
    assert len(yaml_parses) == 2
    after = yamlconfig.parse(new)
    assert after.data["API_TIMEOUT"] == 77
    found = [after.find(at(f"p-{i}", "api_base_url")) for i in (0, 1, 1500)]
    assert [f.value if f else None for f in found] == [
        "http://127.0.0.1:11434/v1",
        url(1),
        "http://localhost:11434/v1",
    ]
    assert new.endswith(
        f"  - platform_name: p-1999\n    api_base_url: {url(1999)}\n    api_concurrencies: 4\n"
    )


def test_yaml_parsed_of_another_text_is_not_used(yaml_parses: list[int]) -> None:
    old = yamlconfig.parse("A: 1\nB: 2\n")
    assert yamlconfig.set_values("A: 1\nB: 3\n", {("A",): 5}, parsed=old) == "A: 5\nB: 3\n"
    assert yamlconfig.set_values("A: 1\nB: 3\n", {("A",): 5}, parsed=object()) == "A: 5\nB: 3\n"
    assert len(yaml_parses) == 1 + 2 * 2


# --- Python (0.2.x) -----------------------------------------------------------------------------------------


def platforms_py(n: int) -> str:
    """Entry i on line 3 + i."""
    body = "".join(f'    {{"name": "p-{i}", "api_base_url": "{url(i)}"}},\n' for i in range(n))
    return f"# platforms\nPLATFORMS = [\n{body}]\n"


@pytest.mark.usefixtures("big_limits")
def test_python_find_goes_straight_to_the_entry(py_parses: list[int]) -> None:
    doc = pyconfig.parse(platforms_py(ENTRIES))
    container = doc._names["PLATFORMS"].value
    container.items = Counted(container.items or [])
    for i in range(ENTRIES):
        found = doc.find(("PLATFORMS", Match("name", f"p-{i}"), "api_base_url"))
        assert found is not None and (found.value, found.line) == (url(i), 3 + i)
    assert doc.find(("PLATFORMS", Match("name", "p-missing"), "api_base_url")) is None
    assert container.items.iterations == 1
    assert len(py_parses) == 1


@pytest.mark.usefixtures("big_limits")
def test_python_duplicates_are_still_refused_in_a_big_list() -> None:
    text = platforms_py(ENTRIES).replace('"name": "p-1999"', '"name": "p-3"')
    with pytest.raises(EditError, match=r"matches 2 entries \(lines 6, 2002\)"):
        pyconfig.parse(text).find(("PLATFORMS", Match("name", "p-3"), "api_base_url"))


def server_config(workers: int) -> str:
    """A 0.2.x server_config.py with ``workers`` FSCHAT_MODEL_WORKERS entries (7 lines each)."""
    entries = "".join(
        f"    # 本地模型 w-{i}\n"
        f'    "w-{i}": {{\n'
        f'        "device": "cuda",\n'
        f'        "port": {22000 + i},  # 独立端口\n'
        '        # "num_gpus": 1,\n'
        '        "infer_turbo": False,\n'
        "    },\n"
        for i in range(workers)
    )
    return (
        "import sys\n\n"
        "HTTPX_DEFAULT_TIMEOUT = 300.0\n\n"
        'DEFAULT_BIND_HOST = "0.0.0.0" if sys.platform != "win32" else "127.0.0.1"\n\n'
        f"FSCHAT_MODEL_WORKERS = {{\n{entries}}}\n"
    )


def test_python_multi_edit_parses_once_more_to_check(py_parses: list[int]) -> None:
    text = server_config(700)  # ~5,000 lines
    assert text.count("\n") > 4_900
    doc = pyconfig.parse(text)
    changes: dict[ValuePath, object] = {
        ("HTTPX_DEFAULT_TIMEOUT",): 77,
        ("FSCHAT_MODEL_WORKERS", "w-10", "port"): 30010,
        ("FSCHAT_MODEL_WORKERS", "w-600", "device"): "cpu",
        ("FSCHAT_MODEL_WORKERS", "w-699", "infer_turbo"): "vllm",
        ("FSCHAT_MODEL_WORKERS", "w-300", "num_gpus"): 2,  # created
        ("API_TIMEOUT",): 600,  # created
    }
    py_parses.clear()
    new = editor_for("python").set_values(text, changes, parsed=doc)
    assert py_parses == [len(new)]  # only the check of the result
    py_parses.clear()
    assert pyconfig.set_values(text, changes) == new  # without it: parsed, then checked
    assert len(py_parses) == 2
    after = pyconfig.parse(new).data
    workers = after["FSCHAT_MODEL_WORKERS"]
    assert isinstance(workers, dict)
    assert after["HTTPX_DEFAULT_TIMEOUT"] == 77.0 and after["API_TIMEOUT"] == 600
    assert workers["w-10"]["port"] == 30010 and workers["w-600"]["device"] == "cpu"
    assert workers["w-699"]["infer_turbo"] == "vllm" and workers["w-300"]["num_gpus"] == 2
    assert "HTTPX_DEFAULT_TIMEOUT = 77.0\n" in new


def test_python_parsed_of_another_text_is_not_used(py_parses: list[int]) -> None:
    old = pyconfig.parse("A = 1\nB = 2\n")
    assert pyconfig.set_values("A = 1\nB = 3\n", {("A",): 5}, parsed=old) == "A = 5\nB = 3\n"
    assert pyconfig.set_values("A = 1\nB = 3\n", {("A",): 5}, parsed=yamlconfig.parse("A: 1\n")) == (
        "A = 5\nB = 3\n"
    )
    assert len(py_parses) == 1 + 2 * 2
