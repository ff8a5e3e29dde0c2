"""Byte-exact before/after tests for the 0.2.x Python config editor (tuner.edit.pyconfig)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tuner.edit import textio
from tuner.edit.paths import EditError, Match, ValuePath
from tuner.edit.pyconfig import NonLiteral, parse, set_values

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PY_FIXTURES = sorted(
    p
    for d in FIXTURES.glob("chatchat-0.2*")
    for p in (d / "configs").iterdir()
    if p.name.endswith((".py", ".example"))
)

SERVER = """\
import sys

# httpx 请求的默认超时（秒）
HTTPX_DEFAULT_TIMEOUT = 300.0

# 各服务器默认绑定的 host
DEFAULT_BIND_HOST = "0.0.0.0" if sys.platform != "win32" else "127.0.0.1"

# api.py server
API_SERVER = {
    "host": DEFAULT_BIND_HOST,
    "port": 7861,
}

FSCHAT_MODEL_WORKERS = {
    # 所有模型共用的默认配置
    "default": {
        "host": DEFAULT_BIND_HOST,
        "port": 20002,
        "infer_turbo": False,

        # "gpus": None, # 使用的 GPU
        # 'num_gpus': 1

    },
    "zhipu-api": { # 在线 API 的端口
        "port": 21001,
    },
}
"""


def edited(before: str, changes: dict[ValuePath, object], **kw: object) -> str:
    after = set_values(before, changes, **kw)  # type: ignore[arg-type]
    assert set_values(after, changes, **kw) == after  # type: ignore[arg-type]  # idempotent
    return after


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


# --- reading ------------------------------------------------------------------------------------------------


def test_reads_top_level_nested_and_nonliteral_values_with_lines() -> None:
    doc = parse(SERVER)
    assert doc.data["HTTPX_DEFAULT_TIMEOUT"] == 300.0
    assert doc.data["DEFAULT_BIND_HOST"] == NonLiteral(
        '"0.0.0.0" if sys.platform != "win32" else "127.0.0.1"'
    )
    assert doc.data["API_SERVER"] == {"host": NonLiteral("DEFAULT_BIND_HOST"), "port": 7861}
    found = doc.find(("FSCHAT_MODEL_WORKERS", "default", "port"))
    assert found is not None and (found.value, found.line, found.literal) == (20002, 19, True)
    host = doc.find(("API_SERVER", "host"))
    assert host is not None and (host.value, host.line, host.literal) == ("DEFAULT_BIND_HOST", 11, False)
    assert doc.find(("FSCHAT_MODEL_WORKERS", "default", "gpus")) is None  # commented out: not a key
    assert doc.find(("API_SERVER", "port", "x")) is None
    assert doc.find(("NOPE",)) is None


def test_reads_lists_annotations_negative_numbers_and_last_assignment_wins() -> None:
    text = "X: float = 1.5\nLLM_MODELS = [\"a\", 'b']\nN = -3\nX = 2.5  # 再次赋值\nT = (0.6, 0.6)\n"
    doc = parse(text)
    assert doc.data == {"X": 2.5, "LLM_MODELS": ["a", "b"], "N": -3, "T": (0.6, 0.6)}
    found = doc.find(("X",))
    assert found is not None and found.line == 4
    assert edited(text, {("X",): 3.0}) == text.replace("X = 2.5", "X = 3.0")


def test_reads_dict_items_assigned_by_subscript() -> None:
    doc = parse((FIXTURES / "chatchat-0.2.6/configs/prompt_config.py").read_text("utf-8"))
    templates = doc.data["PROMPT_TEMPLATES"]
    assert isinstance(templates, dict) and set(templates) == {"llm_chat", "knowledge_base_chat"}
    assert doc.find(("PROMPT_TEMPLATES", "llm_chat", "default")) is not None


def test_match_segment_picks_one_dict_in_a_list() -> None:
    text = 'PLATFORMS = [\n    {"name": "ollama", "url": "a"},\n    {"name": "x", "url": "b"},\n]\n'
    path: ValuePath = ("PLATFORMS", Match("name", "ollama"), "url")
    found = parse(text).find(path)
    assert found is not None and (found.value, found.line) == ("a", 2)
    assert edited(text, {path: "c"}) == text.replace('"url": "a"', '"url": "c"')
    assert parse(text).find(("PLATFORMS", Match("name", "nope"), "url")) is None
    with pytest.raises(EditError, match="matches nothing"):
        set_values(text, {("PLATFORMS", Match("name", "nope"), "url"): "c"})
    twice = text.replace('"name": "x"', '"name": "ollama"')
    with pytest.raises(EditError, match=r"matches 2 entries \(lines 2, 3\)"):
        parse(twice).find(path)
    with pytest.raises(EditError, match="matches 2 entries"):
        set_values(twice, {path: "c"})


# --- scalar edits -------------------------------------------------------------------------------------------


def test_top_level_float_stays_float() -> None:
    after = edited(SERVER, {("HTTPX_DEFAULT_TIMEOUT",): 600})
    assert after == SERVER.replace("HTTPX_DEFAULT_TIMEOUT = 300.0", "HTTPX_DEFAULT_TIMEOUT = 600.0")
    assert edited(SERVER, {("HTTPX_DEFAULT_TIMEOUT",): 42.5}) == SERVER.replace("300.0", "42.5")


def test_nested_values_at_depth_two_and_three_int_and_bool() -> None:
    after = edited(
        SERVER,
        {
            ("API_SERVER", "port"): 7862.0,
            ("FSCHAT_MODEL_WORKERS", "default", "port"): 20003,
            ("FSCHAT_MODEL_WORKERS", "default", "infer_turbo"): True,
        },
    )
    expected = (
        SERVER.replace('"port": 7861,', '"port": 7862,')
        .replace('"port": 20002,', '"port": 20003,')
        .replace('"infer_turbo": False,', '"infer_turbo": True,')
    )
    assert after == expected
    assert len(changed_lines(SERVER, after)) == 6


@pytest.mark.parametrize(
    ("source", "value", "written"),
    [
        ('A = "x"\n', "y", 'A = "y"\n'),
        ("A = 'x'\n", "y", "A = 'y'\n"),
        ("A = 'x'\n", "it's", "A = 'it\\'s'\n"),
        ('A = "x"\n', 'say "hi"\\n', 'A = "say \\"hi\\"\\\\n"\n'),
        ('A = r"C:\\x"\n', "D:\\models\\qwen", 'A = r"D:\\models\\qwen"\n'),
        ('A = r"C:\\x"\n', 'tab\t"', 'A = "tab\\t\\""\n'),
        ('A = u"x"\n', "模型", 'A = u"模型"\n'),
        ('A = """x"""\n', "y", 'A = """y"""\n'),
        ("A = 1\n", 2.5, "A = 2.5\n"),
        ("A = 1.0\n", 7, "A = 7.0\n"),
        ("A = False\n", True, "A = True\n"),
        ("A = None\n", "x", 'A = "x"\n'),
        ("A = 'y'\nB = None\n", "x", "A = 'y'\nB = 'x'\n"),
        ("A = 5\n", -1, "A = -1\n"),
        ("A = -5\n", 1, "A = 1\n"),
        ('A = ["a", "b"]\n', ["c"], 'A = ["c"]\n'),
        ("A = ('a', 'b')\n", ["c"], "A = ('c',)\n"),
        ("A = 'a', 'b'\n", ("c", "d", "e"), "A = 'c', 'd', 'e'\n"),
    ],
)
def test_scalar_styles_are_kept(source: str, value: object, written: str) -> None:
    target = "B" if source.startswith("A = 'y'") else "A"
    assert edited(source, {(target,): value}) == written
    found = parse(written).find((target,))
    assert found is not None and found.value == (tuple(value) if "'c'," in written else value)


def test_list_of_same_length_is_edited_item_by_item_keeping_comments() -> None:
    text = 'M = [\n    "openai-api",  # 默认模型\n    "zhipu-api",\n]\n'
    after = edited(text, {("M",): ["qwen-api", "zhipu-api"]})
    assert after == text.replace('"openai-api"', '"qwen-api"')
    with pytest.raises(EditError, match="cannot resize a list written over several lines"):
        set_values(text, {("M",): ["a"]})


def test_same_value_leaves_text_identical() -> None:
    same: dict[ValuePath, object] = {("HTTPX_DEFAULT_TIMEOUT",): 300, ("API_SERVER", "port"): 7861}
    assert set_values(SERVER, same) is SERVER
    assert set_values(SERVER, {}) is SERVER


def test_bool_is_not_taken_for_an_int() -> None:
    assert set_values("A = 1\n", {("A",): True}) == "A = True\n"


# --- non-literals -------------------------------------------------------------------------------------------


def test_nonliteral_is_refused_unless_replace_is_allowed() -> None:
    with pytest.raises(EditError) as err:
        set_values(SERVER, {("DEFAULT_BIND_HOST",): "127.0.0.1"})
    assert str(err.value) == (
        'DEFAULT_BIND_HOST is an expression ("0.0.0.0" if ... else ...), not a literal; '
        "pass replace to overwrite it"
    )
    with pytest.raises(EditError, match=r"API_SERVER.host is an expression \(DEFAULT_BIND_HOST\)"):
        set_values(SERVER, {("API_SERVER", "host"): "127.0.0.1"})
    changes: dict[ValuePath, object] = {
        ("DEFAULT_BIND_HOST",): "127.0.0.1",
        ("API_SERVER", "host"): "127.0.0.1",
    }
    after = edited(SERVER, changes, replace_nonliteral=set(changes))
    expected = SERVER.replace(
        'DEFAULT_BIND_HOST = "0.0.0.0" if sys.platform != "win32" else "127.0.0.1"',
        'DEFAULT_BIND_HOST = "127.0.0.1"',
    ).replace('"host": DEFAULT_BIND_HOST,\n    "port": 7861', '"host": "127.0.0.1",\n    "port": 7861')
    assert after == expected
    assert changed_lines(SERVER, after) == [
        '-DEFAULT_BIND_HOST = "0.0.0.0" if sys.platform != "win32" else "127.0.0.1"',
        '+DEFAULT_BIND_HOST = "127.0.0.1"',
        '-    "host": DEFAULT_BIND_HOST,',
        '+    "host": "127.0.0.1",',
    ]


def test_nonliteral_can_be_written_back_verbatim() -> None:
    text = 'API_SERVER = {\n    "host": "127.0.0.1",\n}\n'
    after = edited(text, {("API_SERVER", "host"): NonLiteral("DEFAULT_BIND_HOST")})
    assert after == 'API_SERVER = {\n    "host": DEFAULT_BIND_HOST,\n}\n'
    assert set_values(after, {("API_SERVER", "host"): NonLiteral("DEFAULT_BIND_HOST")}) is after


def test_augmented_assignment_makes_a_name_uneditable() -> None:
    text = 'M = ["a"]\nM += ["b"]\n'
    assert parse(text).data["M"] == NonLiteral('M += ["b"]')
    with pytest.raises(EditError, match="changed again on line 2"):
        set_values(text, {("M",): ["c"]}, replace_nonliteral=[("M",)])


# --- adding keys and names ----------------------------------------------------------------------------------


def test_add_key_to_dict_with_trailing_commas_and_comment_block() -> None:
    after = edited(
        SERVER,
        {("FSCHAT_MODEL_WORKERS", "default", "limit_worker_concurrency"): 5},
        comments={("FSCHAT_MODEL_WORKERS", "default", "limit_worker_concurrency"): "并发上限"},
    )
    expected = SERVER.replace(
        "        # 'num_gpus': 1\n\n    },",
        "        # 'num_gpus': 1\n        # 并发上限\n        \"limit_worker_concurrency\": 5,\n\n    },",
    )
    assert after == expected
    assert changed_lines(SERVER, after) == ["+        # 并发上限", '+        "limit_worker_concurrency": 5,']


def test_add_key_after_last_entry_without_trailing_comma() -> None:
    text = 'D = {\n    "a": {\n        "k": "v"  # 注释\n    }\n\n}\n'
    after = edited(text, {("D", "a", "n"): 1, ("D", "b"): {"x": "y"}})
    assert after == (
        'D = {\n    "a": {\n        "k": "v",  # 注释\n        "n": 1\n    },\n'
        '    "b": {\n        "x": "y",\n    }\n\n}\n'
    )


def test_add_key_to_one_line_and_empty_dicts_matching_colon_style() -> None:
    assert edited('D = {"a": 1}\n', {("D", "b"): 2}) == 'D = {"a": 1, "b": 2}\n'
    assert edited("D = {'a': 1,}\n", {("D", "b"): "x"}) == "D = {'a': 1, 'b': 'x',}\n"
    assert edited("D = {}\n", {("D", "b"): 2}) == 'D = {"b": 2}\n'
    assert edited('D = {\n    "a":"b",\n}\n', {("D", "c"): "d"}) == 'D = {\n    "a":"b",\n    "c":"d",\n}\n'
    assert edited("D = {\n    # TODO:\n}\n", {("D", "k"): 1}) == 'D = {\n    # TODO:\n    "k": 1,\n}\n'


def test_add_top_level_name_after_a_name_with_comments() -> None:
    after = edited(
        SERVER,
        {("API_TIMEOUT",): 600},
        after={("API_TIMEOUT",): "HTTPX_DEFAULT_TIMEOUT"},
        comments={("API_TIMEOUT",): "API 请求超时（秒）"},
    )
    assert after == SERVER.replace(
        "HTTPX_DEFAULT_TIMEOUT = 300.0\n",
        "HTTPX_DEFAULT_TIMEOUT = 300.0\n\n# API 请求超时（秒）\nAPI_TIMEOUT = 600\n",
    )


def test_add_top_level_name_after_the_last_assignment() -> None:
    text = "import os\nA = 1\nif os.name:\n    pass\n"
    assert edited(text, {("B",): 2.0}) == "import os\nA = 1\n\nB = 2.0\nif os.name:\n    pass\n"
    assert edited("A = 1", {("B",): "x"}) == 'A = 1\n\nB = "x"\n'
    assert edited("", {("B",): 1}) == "B = 1\n"


def test_missing_keys_and_parents_are_refused() -> None:
    with pytest.raises(EditError, match=r"^API_SERVER.x.y: its parent API_SERVER.x does not exist$"):
        set_values(SERVER, {("API_SERVER", "x", "y"): 1})
    with pytest.raises(
        EditError, match=r"^API_SERVER.port.y: its parent API_SERVER.port is a int, not a dict$"
    ):
        set_values(SERVER, {("API_SERVER", "port", "y"): 1})
    with pytest.raises(EditError, match="creating new keys is off"):
        set_values(SERVER, {("API_SERVER", "x"): 1}, create=False)
    with pytest.raises(EditError, match="NOPE is not assigned at the top level"):
        set_values(SERVER, {("X",): 1}, after={("X",): "NOPE"})
    with pytest.raises(EditError, match="overlaps"):
        set_values(SERVER, {("API_SERVER",): 1, ("API_SERVER", "port"): 2})


# --- refusals -----------------------------------------------------------------------------------------------


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(EditError, match=r"^line 3: "):
        parse("A = 1\nB = 2\nC = {\n")
    with pytest.raises(EditError, match=r"^line 2: "):
        set_values("A = 1\nB = = 2\n", {("A",): 2})


@pytest.mark.parametrize(
    ("source", "value", "why"),
    [
        ('A = """x\ny"""\n', "z", "multi-line string"),
        ('A = ("x"\n     "y")\n', "z", "implicitly concatenated string"),
        ("A = 1\n", float("nan"), "cannot be written"),
        ("A = 1\n", object(), "cannot write a value of type object"),
        ("A = {'a': 1}\n", {"a": 2}, "set its keys one by one"),
        ("A = [1]\n", 2, "give a list"),
    ],
)
def test_values_that_cannot_be_edited_in_place_are_refused(source: str, value: object, why: str) -> None:
    with pytest.raises(EditError, match=why):
        set_values(source, {("A",): value})


def test_chained_assignment_edit_is_caught_by_the_check() -> None:
    with pytest.raises(EditError, match="would change more than asked: B would be 2"):
        set_values("A = B = 1\n", {("A",): 2})


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PY_FIXTURES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_fixture_round_trips_byte_identically(path: Path) -> None:
    raw = path.read_bytes()
    text, fmt = textio.decode(raw)
    doc = parse(text)
    assert set_values(text, {}) == text
    same = {(name,): value for name, value in doc.data.items() if not isinstance(value, NonLiteral)}
    assert textio.encode(set_values(text, same), fmt) == raw


def test_fixture_facts() -> None:
    def data(name: str) -> dict[str, object]:
        return parse((FIXTURES / name).read_text("utf-8")).data

    old = data("chatchat-0.2.6/configs/model_config.py")
    # v0.2.6 reaches OpenAI-compatible servers through LANGCHAIN_LLM_MODEL["OpenAI"] (docs/versions.md)
    assert old["LLM_MODEL"] == "OpenAI" and "openai-api" not in old["ONLINE_LLM_MODEL"]  # type: ignore[operator]
    url = parse((FIXTURES / "chatchat-0.2.6/configs/model_config.py").read_text("utf-8")).find(
        ("LANGCHAIN_LLM_MODEL", "OpenAI", "api_base_url")
    )
    assert url is not None and url.line == 58
    langchain = old["LANGCHAIN_LLM_MODEL"]
    assert isinstance(langchain, dict) and langchain["OpenAI"]["api_base_url"] == "http://localhost:11434/v1"
    new = data("chatchat-0.2.10/configs/model_config.py")
    assert isinstance(new["LLM_MODELS"], list) and "openai-api" in new["LLM_MODELS"]
    online = new["ONLINE_LLM_MODEL"]
    assert isinstance(online, dict) and online["openai-api"]["model_name"] == "qwen:7b"
    for version in ("0.2.6", "0.2.10", "0.2.10-api-timeout"):
        server = data(f"chatchat-{version}/configs/server_config.py")
        assert server["HTTPX_DEFAULT_TIMEOUT"] == 300.0
        assert isinstance(server["DEFAULT_BIND_HOST"], NonLiteral)
        assert server["API_SERVER"] == {"host": NonLiteral("DEFAULT_BIND_HOST"), "port": 7861}
    assert data("chatchat-0.2.10-api-timeout/configs/server_config.py")["API_TIMEOUT"] == 600
    assert "API_TIMEOUT" not in data("chatchat-0.2.10/configs/server_config.py")
    unconfigured = FIXTURES / "chatchat-0.2.10-unconfigured/configs"
    assert not list(unconfigured.glob("*_config.py"))
    for example in unconfigured.glob("*.py.example"):
        assert example.read_bytes() == (FIXTURES / "chatchat-0.2.10/configs" / example.name[:-8]).read_bytes()


def test_fixture_edit_diff_touches_only_changed_lines() -> None:
    text = (FIXTURES / "chatchat-0.2.10/configs/model_config.py").read_text("utf-8")
    after = edited(
        text,
        {
            ("ONLINE_LLM_MODEL", "openai-api", "api_base_url"): "http://127.0.0.1:11435/v1",
            ("ONLINE_LLM_MODEL", "openai-api", "model_name"): "qwen2:7b",
            ("TEMPERATURE",): 0.1,
        },
    )
    assert changed_lines(text, after) == [
        "-TEMPERATURE = 0.7",
        "+TEMPERATURE = 0.1",
        '-        "model_name": "qwen:7b",',
        '-        "api_base_url": "http://127.0.0.1:11434/v1",',
        '+        "model_name": "qwen2:7b",',
        '+        "api_base_url": "http://127.0.0.1:11435/v1",',
    ]


def test_crlf_and_bom_survive_decode_edit_encode() -> None:
    raw = b"\xef\xbb\xbf" + SERVER.replace("\n", "\r\n").encode("utf-8")
    text, fmt = textio.decode(raw)
    assert fmt == textio.TextFormat(bom=True, newline="\r\n")
    after = set_values(text, {("API_SERVER", "port"): 7862, ("NEW",): 1})
    out = textio.encode(after, fmt)
    assert out.startswith(b"\xef\xbb\xbf") and b"\n" not in out.replace(b"\r\n", b"")
    assert out == b"\xef\xbb\xbf" + (
        SERVER.replace('"port": 7861', '"port": 7862').replace("\n", "\r\n") + "\r\nNEW = 1\r\n"
    ).encode("utf-8")


# --- property: a random scalar edit on a fixture changes only the target line -----------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    given = None


def _scalar_paths() -> list[tuple[str, ValuePath, type]]:
    from tuner.edit import pyconfig

    out: list[tuple[str, ValuePath, type]] = []
    for file in PY_FIXTURES:
        text = file.read_text("utf-8")
        doc = parse(text)

        def walk(value: object, path: ValuePath, text: str = text, doc: object = doc) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(item, (*path, key))
            elif isinstance(value, (str, int, float)):
                chain = pyconfig._lookup(doc, path)  # type: ignore[arg-type]
                if chain is not None and chain[-1].reason is None:
                    out.append((text, path, type(value)))

        for name, value in doc.data.items():
            walk(value, (name,))
    return out


if given is not None:
    SCALARS = _scalar_paths()
    VALUES = {
        str: st.text(max_size=30),
        bool: st.booleans(),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
    }

    @settings(max_examples=80, deadline=None, database=None)
    @given(st.sampled_from(SCALARS).flatmap(lambda c: st.tuples(st.just(c), VALUES[c[2]])))
    def test_random_scalar_edit_changes_only_its_line(
        case: tuple[tuple[str, ValuePath, type], object],
    ) -> None:
        (text, path, _), value = case
        line = parse(text).find(path)
        assert line is not None
        after = set_values(text, {path: value})
        before_lines, after_lines = text.split("\n"), after.split("\n")
        assert len(before_lines) == len(after_lines)
        assert {i for i, (a, b) in enumerate(zip(before_lines, after_lines, strict=True)) if a != b} <= {
            line.line - 1
        }
        found = parse(after).find(path)
        assert found is not None and found.value == value and type(found.value) is type(value)
        assert set_values(after, {path: value}) == after

else:  # pragma: no cover

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_random_scalar_edit_changes_only_its_line() -> None:
        pass
