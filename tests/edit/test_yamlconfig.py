"""Byte-exact tests of the Chatchat 0.3.1 YAML settings editor on the fixture installs."""

from __future__ import annotations

import codecs
import difflib
import json
from pathlib import Path

import pytest

from tuner.edit import textio
from tuner.edit.paths import EditError, Match, ValuePath
from tuner.edit.yamlconfig import parse, set_values

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
V031 = FIXTURES / "chatchat-0.3.1"
YAML_DIRS = ["chatchat-0.3.1", "chatchat-0.3.1-crlf", "chatchat-0.3.1-bom", "chatchat-0.3.1-env"]
ALL_YAML = sorted(p for d in YAML_DIRS for p in (FIXTURES / d).glob("*.yaml"))
OLLAMA = Match("platform_name", "ollama")
XINF = Match("platform_name", "xinference")


def read(name: str) -> str:
    return (V031 / name).read_text(encoding="utf-8")


def replaced(text: str, *pairs: tuple[str, str]) -> str:
    """``text`` with each exact ``old`` line (which must occur once) replaced by ``new``."""
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


# ------------------------------------------------------------------------------------------ scalar edits


def test_top_level_float() -> None:
    text = read("basic_settings.yaml")
    out = set_values(text, {("HTTPX_DEFAULT_TIMEOUT",): 42.0})
    assert out == replaced(text, ("HTTPX_DEFAULT_TIMEOUT: 300.0\n", "HTTPX_DEFAULT_TIMEOUT: 42.0\n"))
    assert changed_lines(text, out) == ["-HTTPX_DEFAULT_TIMEOUT: 300.0", "+HTTPX_DEFAULT_TIMEOUT: 42.0"]


def test_int_for_a_float_setting_is_written_as_float() -> None:
    text = read("basic_settings.yaml")
    out = set_values(text, {("HTTPX_DEFAULT_TIMEOUT",): 60})
    assert out == replaced(text, ("HTTPX_DEFAULT_TIMEOUT: 300.0\n", "HTTPX_DEFAULT_TIMEOUT: 60.0\n"))
    assert parse(out).data["HTTPX_DEFAULT_TIMEOUT"] == 60.0


def test_nested_map_value_changes_only_that_key() -> None:
    text = read("basic_settings.yaml")
    out = set_values(text, {("API_SERVER", "port"): 7862})
    assert out == replaced(text, ("  port: 7861\n", "  port: 7862\n"))
    assert "  public_port: 7861\n" in out


def test_list_entry_by_match() -> None:
    text = read("model_settings.yaml")
    out = set_values(
        text,
        {
            ("MODEL_PLATFORMS", OLLAMA, "api_base_url"): "http://localhost:11434/v1",
            ("MODEL_PLATFORMS", OLLAMA, "api_concurrencies"): 1,
            ("MODEL_PLATFORMS", XINF, "auto_detect_model"): False,
        },
    )
    lines = text.splitlines(keepends=True)
    at = lines.index("  - platform_name: ollama\n")
    assert lines[at + 2] == "    api_base_url: http://127.0.0.1:11434/v1\n"
    assert lines[at + 5] == "    api_concurrencies: 5\n"
    lines[at + 2] = "    api_base_url: http://localhost:11434/v1\n"
    lines[at + 5] = "    api_concurrencies: 1\n"
    xi = lines.index("  - platform_name: xinference\n")
    assert lines[xi + 6] == "    auto_detect_model: true\n"
    lines[xi + 6] = "    auto_detect_model: false\n"
    assert out == "".join(lines)
    assert len(changed_lines(text, out)) == 6
    platforms = parse(out).data["MODEL_PLATFORMS"]
    assert isinstance(platforms, list)
    assert [p["api_concurrencies"] for p in platforms] == [5, 1, 5, 5]


def test_quoted_strings_keep_their_quotes() -> None:
    text = read("model_settings.yaml")
    out = set_values(text, {("MODEL_PLATFORMS", OLLAMA, "api_proxy"): "http://127.0.0.1:7890"})
    lines = changed_lines(text, out)
    assert lines == ["-    api_proxy: ''", "+    api_proxy: 'http://127.0.0.1:7890'"]
    prompts = (V031 / "prompt_settings.yaml").read_text(encoding="utf-8")
    out = set_values(prompts, {("rag", "empty"): '请回答:\n{{question}} "引号"'})
    assert changed_lines(prompts, out) == [
        '-  empty: "请回答我的问题:\\n{{question}}"',
        '+  empty: "请回答:\\n{{question}} \\"引号\\""',
    ]
    assert parse(out).data["rag"] == {**parse(prompts).data["rag"], "empty": '请回答:\n{{question}} "引号"'}  # type: ignore[dict-item]


def test_plain_string_gets_quotes_only_when_needed() -> None:
    text = read("basic_settings.yaml")
    out = set_values(text, {("DEFAULT_BIND_HOST",): "127.0.0.1"})
    assert changed_lines(text, out) == ["-DEFAULT_BIND_HOST: 0.0.0.0", "+DEFAULT_BIND_HOST: 127.0.0.1"]
    for value, written in [
        ("yes", "'yes'"),
        ("1e3", "'1e3'"),
        ("a: b", "'a: b'"),
        ("it's", "it's"),
        ("", "''"),
    ]:
        out = set_values(text, {("DEFAULT_BIND_HOST",): value})
        assert changed_lines(text, out)[1] == f"+DEFAULT_BIND_HOST: {written}"
        assert parse(out).data["DEFAULT_BIND_HOST"] == value


def test_value_followed_by_a_comment() -> None:
    text = "# 超时\nHTTPX_DEFAULT_TIMEOUT: 300.0   # 秒，单位\nlog_verbose: false # 日志\n"
    out = set_values(text, {("HTTPX_DEFAULT_TIMEOUT",): 42.5, ("log_verbose",): True})
    assert out == "# 超时\nHTTPX_DEFAULT_TIMEOUT: 42.5   # 秒，单位\nlog_verbose: true # 日志\n"


def test_empty_value_is_filled_after_the_colon() -> None:
    text = read("model_settings.yaml")
    out = set_values(text, {("MAX_TOKENS",): 4096})
    assert out == replaced(text, ("MAX_TOKENS:\n", "MAX_TOKENS: 4096\n"))
    assert set_values("A:   # 注释\nB: 1\n", {("A",): "x"}) == "A: x   # 注释\nB: 1\n"


def test_big_and_small_floats_reread_as_floats() -> None:
    for value, written in [(1e20, "1.0e+20"), (1.5e-07, "1.5e-07"), (float("inf"), ".inf")]:
        out = set_values("T: 1.0\n", {("T",): value})
        assert out == f"T: {written}\n"
        assert parse(out).data["T"] == value


# ------------------------------------------------------------------------------------------ lists


def test_replace_short_block_list_by_lines() -> None:
    text = read("model_settings.yaml")
    out = set_values(
        text, {("MODEL_PLATFORMS", OLLAMA, "llm_models"): ["qwen:7b", "qwen2:7b", "qwen2.5:0.5b"]}
    )
    assert changed_lines(text, out) == ["+      - qwen2.5:0.5b"]
    out = set_values(text, {("MODEL_PLATFORMS", OLLAMA, "llm_models"): ["qwen2:7b"]})
    assert changed_lines(text, out) == ["-      - qwen:7b"]


def test_fill_empty_flow_list() -> None:
    text = read("model_settings.yaml")
    out = set_values(text, {("MODEL_PLATFORMS", XINF, "llm_models"): ["glm4-chat", "yes"]})
    assert changed_lines(text, out) == ["-    llm_models: []", "+    llm_models: [glm4-chat, 'yes']"]


def test_block_list_with_comments_is_refused() -> None:
    text = "M:\n  - a\n  # 注释\n  - b\n"
    with pytest.raises(EditError, match="M: list has comments"):
        set_values(text, {("M",): ["a"]})


# ------------------------------------------------------------------------------------------ creating keys


def test_create_key_in_list_entry_with_comment() -> None:
    text = read("model_settings.yaml")
    path: ValuePath = ("MODEL_PLATFORMS", OLLAMA, "request_timeout")
    out = set_values(text, {path: 30.0}, comments={path: "由 chatchat-tune 添加：单次请求超时（秒）"})
    anchor = "    text2speech_models: []\n  - platform_name: oneapi\n"
    assert out == replaced(
        text,
        (
            anchor,
            "    text2speech_models: []\n"
            "    # 由 chatchat-tune 添加：单次请求超时（秒）\n"
            "    request_timeout: 30.0\n"
            "  - platform_name: oneapi\n",
        ),
    )
    assert parse(out).find(path) is not None


def test_create_top_level_key() -> None:
    text = read("basic_settings.yaml")
    path: ValuePath = ("API_TIMEOUT",)
    out = set_values(text, {path: 60.0}, comments={path: "# 由 chatchat-tune 添加\n"})
    assert out == text + "# 由 chatchat-tune 添加\nAPI_TIMEOUT: 60.0\n"
    out = set_values(text, {path: 60.0}, after={path: "HTTPX_DEFAULT_TIMEOUT"})
    assert out == replaced(
        text, ("HTTPX_DEFAULT_TIMEOUT: 300.0\n", "HTTPX_DEFAULT_TIMEOUT: 300.0\nAPI_TIMEOUT: 60.0\n")
    )


def test_create_nested_key_and_list() -> None:
    text = read("basic_settings.yaml")
    out = set_values(text, {("API_SERVER", "workers"): 2, ("HOSTS",): ["127.0.0.1", "::1"]})
    assert out == replaced(text, ("  public_port: 7861\n", "  public_port: 7861\n  workers: 2\n")) + (
        "HOSTS:\n  - 127.0.0.1\n  - '::1'\n"
    )


def test_create_in_empty_or_unterminated_text() -> None:
    assert set_values("", {("A",): 1}) == "A: 1\n"
    assert set_values("# 只有注释", {("A",): 1}) == "# 只有注释\nA: 1\n"
    assert set_values("A: 1", {("B",): 2}) == "A: 1\nB: 2"


# ------------------------------------------------------------------------------------------ invariants


def test_idempotent_and_no_op() -> None:
    text = read("model_settings.yaml")
    change = {("MODEL_PLATFORMS", OLLAMA, "api_base_url"): "http://127.0.0.1:11434/v1"}
    assert set_values(text, change) is text
    once = set_values(text, {("TEMPERATURE",): 0.3})
    assert set_values(once, {("TEMPERATURE",): 0.3}) is once


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_round_trips(path: Path) -> None:
    raw = path.read_bytes()
    text, fmt = textio.decode(raw)
    assert textio.encode(text, fmt) == raw
    doc = parse(text)
    same = {p: v for p, v in leaves(doc.data) if not isinstance(v, dict)}
    assert set_values(text, same) is text
    assert set_values(text, {}) is text


def leaves(data: object, prefix: tuple[str, ...] = ()) -> list[tuple[ValuePath, object]]:
    out: list[tuple[ValuePath, object]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(leaves(v, (*prefix, str(k))) if isinstance(v, dict) else [((*prefix, str(k)), v)])
    return out


@pytest.mark.parametrize("variant", ["chatchat-0.3.1-crlf", "chatchat-0.3.1-bom"])
def test_crlf_and_bom_survive(variant: str) -> None:
    raw = (FIXTURES / variant / "model_settings.yaml").read_bytes()
    text, fmt = textio.decode(raw)
    out = textio.encode(set_values(text, {("MODEL_PLATFORMS", OLLAMA, "api_concurrencies"): 2}), fmt)
    lf = set_values(read("model_settings.yaml"), {("MODEL_PLATFORMS", OLLAMA, "api_concurrencies"): 2})
    expected = lf.encode("utf-8")
    if fmt.newline == "\r\n":
        expected = expected.replace(b"\n", b"\r\n")
    if fmt.bom:
        expected = codecs.BOM_UTF8 + expected
    assert out == expected


def test_parse_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    for path in ALL_YAML:
        text, _ = textio.decode(path.read_bytes())
        assert parse(text).data == yaml.safe_load(text), path


def test_find() -> None:
    doc = parse(read("model_settings.yaml"))
    found = doc.find(("MODEL_PLATFORMS", OLLAMA, "api_base_url"))
    assert found is not None and found.value == "http://127.0.0.1:11434/v1"
    assert doc.text.splitlines()[found.line - 1] == "    api_base_url: http://127.0.0.1:11434/v1"
    entry = doc.find(("MODEL_PLATFORMS", OLLAMA))
    assert entry is not None and isinstance(entry.value, dict) and entry.value["platform_type"] == "ollama"
    assert doc.find(("MODEL_PLATFORMS", Match("platform_name", "vllm"), "api_base_url")) is None
    assert doc.find(("NO_SUCH_KEY",)) is None
    max_tokens = doc.find(("MAX_TOKENS",))
    assert max_tokens is not None and max_tokens.value is None


def test_fixture_variants() -> None:
    env_model = (FIXTURES / "chatchat-0.3.1-env" / "model_settings.yaml").read_text(encoding="utf-8")
    found = parse(env_model).find(("MODEL_PLATFORMS", OLLAMA, "api_base_url"))
    assert found is not None and found.value == "http://localhost:11434/v1"
    env = json.loads((FIXTURES / "chatchat-0.3.1-env" / "env.json").read_text(encoding="utf-8"))
    assert env["env"]["HTTPX_DEFAULT_TIMEOUT"] == "60"
    for variant in ("chatchat-0.3.1-crlf", "chatchat-0.3.1-bom"):
        for path in V031.glob("*.yaml"):
            raw = (FIXTURES / variant / path.name).read_bytes()
            assert textio.decode(raw)[0] == path.read_text(encoding="utf-8")
    ws = FIXTURES / "chatchat-0.3.0" / ".chatchat" / "workspace" / "workspace_config.json"
    types = [entry["type"] for entry in json.loads(ws.read_text(encoding="utf-8"))]
    assert types == ["ConfigBasic", "ConfigKb", "ConfigModel", "ConfigServer"]


# ------------------------------------------------------------------------------------------ refusals


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(EditError, match=r"^line 2: mapping values are not allowed here"):
        parse("A: 1\nB: x: y\nC: 2\n")
    with pytest.raises(EditError, match=r"^line 2: .*duplicate key"):
        parse("A: 1\nA: 2\n")
    with pytest.raises(EditError, match=r"^line 1: the top level is not a mapping"):
        parse("- a\n- b\n")
    with pytest.raises(EditError, match=r"^line 3: "):
        set_values("A: 1\nB: 2\n\tC: 3\n", {("A",): 2})


def test_ambiguous_match() -> None:
    text = read("model_settings.yaml").replace("platform_name: oneapi", "platform_name: ollama")
    path: ValuePath = ("MODEL_PLATFORMS", OLLAMA, "api_base_url")
    with pytest.raises(EditError, match=r"MODEL_PLATFORMS\[platform_name=ollama\] is ambiguous: 2 entries"):
        set_values(text, {path: "http://127.0.0.1:11434/v1"})
    with pytest.raises(EditError, match="ambiguous"):
        parse(text).find(path)


def test_missing_match_and_missing_parent() -> None:
    text = read("model_settings.yaml")
    vllm = ("MODEL_PLATFORMS", Match("platform_name", "vllm"), "api_base_url")
    with pytest.raises(EditError, match=r"MODEL_PLATFORMS\[platform_name=vllm\] does not exist"):
        set_values(text, {vllm: "x"})
    with pytest.raises(EditError, match="NOPE does not exist"):
        set_values(text, {("NOPE", "x"): 1})
    with pytest.raises(EditError, match="creating keys is not allowed"):
        set_values(text, {("NEW_KEY",): 1}, create=False)
    with pytest.raises(EditError, match="MAX_TOKENS is not a mapping"):
        set_values(text, {("MAX_TOKENS", "x"): 1})


def test_anchors_and_aliases_are_refused() -> None:
    text = "base: &b\n  port: 1\nAPI: *b\nmerged:\n  <<: *b\n  host: x\n"
    with pytest.raises(EditError, match=r"API: cannot edit in place: .*anchor"):
        set_values(text, {("API",): 5})
    with pytest.raises(EditError, match="anchor"):
        set_values(text, {("base", "port"): 2})
    with pytest.raises(EditError, match="merge key"):
        set_values(text, {("merged", "host"): "y"})
    with pytest.raises(EditError, match="anchor"):
        set_values("a: &x 1\nb: *x\n", {("a",): 2})


def test_block_and_multiline_scalars_are_refused() -> None:
    with pytest.raises(EditError, match=r"T: is a block scalar \(\|\)"):
        set_values("T: |\n  第一行\n  第二行\nU: 1\n", {("T",): "x"})
    prompts = (V031 / "prompt_settings.yaml").read_text(encoding="utf-8")
    with pytest.raises(EditError, match=r"preprocess_model\.default: is a multi-line scalar"):
        set_values(prompts, {("preprocess_model", "default"): "x"})


def test_other_refusals() -> None:
    text = read("basic_settings.yaml")
    with pytest.raises(EditError, match="set its keys one by one"):
        set_values(text, {("API_SERVER",): {"port": 1}})
    with pytest.raises(EditError, match="cannot write a bytes"):
        set_values(text, {("HTTPX_DEFAULT_TIMEOUT",): b"1"})
    with pytest.raises(EditError, match="is a list"):
        set_values(read("kb_settings.yaml"), {("PDF_OCR_THRESHOLD",): 0.5})
    with pytest.raises(EditError, match="flow mapping"):
        set_values("A: {x: 1}\n", {("A", "y"): 2})
    with pytest.raises(EditError, match="explicit tag"):
        set_values("A: !!str 5\n", {("A",): "6"})
    with pytest.raises(EditError, match="must end with a key"):
        set_values(read("model_settings.yaml"), {("MODEL_PLATFORMS", OLLAMA): "x"})
    with pytest.raises(EditError, match="cannot empty a block list"):
        set_values(read("model_settings.yaml"), {("MODEL_PLATFORMS", OLLAMA, "llm_models"): []})


def test_edit_inside_flow_mapping() -> None:
    assert set_values("A: {host: 0.0.0.0, port: 1}\n", {("A", "port"): 2}) == "A: {host: 0.0.0.0, port: 2}\n"
    assert set_values("A: {host: a, port: 1}\n", {("A", "host"): "b,c"}) == "A: {host: 'b,c', port: 1}\n"


# ------------------------------------------------------------------------------------------ property test


def scalar_paths() -> list[tuple[str, ValuePath]]:
    out: list[tuple[str, ValuePath]] = []
    for name in ("basic_settings.yaml", "model_settings.yaml"):
        data = parse(read(name)).data
        out += [(name, p) for p, v in leaves(data) if not isinstance(v, (list, dict))]
        for entry in data.get("MODEL_PLATFORMS", []):  # type: ignore[attr-defined]
            match = Match("platform_name", entry["platform_name"])
            out += [
                (name, ("MODEL_PLATFORMS", match, k))
                for k, v in entry.items()
                if k != "platform_name" and not isinstance(v, list)
            ]
    return out


def test_random_scalar_edits_touch_only_the_target_line() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    values = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40)
    )

    @hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
    @hypothesis.given(target=st.sampled_from(scalar_paths()), value=values)
    def check(target: tuple[str, ValuePath], value: object) -> None:
        name, path = target
        text = read(name)
        before = parse(text).find(path)
        assert before is not None
        out = set_values(text, {path: value})
        if isinstance(before.value, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        after = parse(out).find(path)
        assert after is not None and type(after.value) is type(value) and after.value == value
        old_lines, new_lines = text.split("\n"), out.split("\n")
        assert len(old_lines) == len(new_lines)
        diff = [n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
        assert diff in ([], [before.line - 1])
        yaml = pytest.importorskip("yaml")
        assert yaml.safe_load(out) == parse(out).data

    check()
