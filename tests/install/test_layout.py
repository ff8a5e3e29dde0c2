"""Every Chatchat layout, read and edited as that version really keeps it (facts: docs/versions.md).

For each 0.2 tag (stock, not configured, and pointed at Ollama), each 0.3.0.x layout and 0.3.1+: inspect
names the right version and entry; the Ollama URL edit changes one line; the timeout edit changes one line
or is refused honestly where the version has no setting; every other byte stays.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_refused, run_cli, snapshot, tree_digest

# fixture → (label fragment, stock OpenAI-compatible entry, has a timeout setting)
TAGS = {
    "chatchat-v0.2.0": ("v0.2.0", "openai-chatgpt-3.5", False),
    "chatchat-v0.2.1": ("v0.2.1", "gpt-3.5-turbo", False),
    "chatchat-v0.2.2": ("v0.2.2", "gpt-3.5-turbo", False),
    "chatchat-v0.2.3": ("v0.2.3–v0.2.4", "gpt-3.5-turbo", True),
    "chatchat-v0.2.4": ("v0.2.3–v0.2.4", "gpt-3.5-turbo", True),
    "chatchat-v0.2.5": ("v0.2.5", "gpt-3.5-turbo", True),
    "chatchat-v0.2.6": ("v0.2.6", "OpenAI", True),
    "chatchat-v0.2.7": ("v0.2.7", "openai-api", True),
    "chatchat-v0.2.8": ("v0.2.8–0.2.final", "openai-api", True),
    "chatchat-v0.2.10": ("v0.2.8–0.2.final", "openai-api", True),
}
OLLAMA = "http://127.0.0.1:11434/v1"


def _copy(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _changed_lines(before: dict[str, bytes], after: dict[str, bytes]) -> list[tuple[str, str, str]]:
    out = []
    for name in sorted(set(before) | set(after)):
        old = before.get(name, b"").decode("utf-8").splitlines()
        new = after.get(name, b"").decode("utf-8").splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
            if tag != "equal":
                out.append((name, "\n".join(old[i1:i2]), "\n".join(new[j1:j2])))
    return out


@pytest.mark.parametrize("name", sorted(TAGS))
def test_each_02_tag_is_read_as_it_is(tmp_path: Path, name: str) -> None:
    label, stock, has_timeout = TAGS[name]
    report = json.loads(run_cli("inspect", "--root", str(_copy(tmp_path, name)), "--json").out)
    assert report["generation"] == "0.2" and label in report["label"]
    urls = next(k for k in report["knobs"] if k["name"] == "ollama_url")
    assert [v["entry"] for v in urls["values"]] == [stock], "the stock OpenAI-compatible entry, by name"
    timeout = next(k for k in report["knobs"] if k["name"] == "api_timeout")
    assert bool(timeout["values"]) == has_timeout
    if not has_timeout:
        assert timeout["honoured"] == "no" and "hard-coded" in timeout["effect"]
    else:
        assert timeout["honoured"] == "partly" and "NOT the call to the model" in timeout["effect"]


@pytest.mark.parametrize("name", sorted(TAGS))
def test_each_02_tag_points_its_stock_entry_at_ollama_in_one_line(tmp_path: Path, name: str) -> None:
    _, stock, _ = TAGS[name]
    root = _copy(tmp_path, name)
    before = snapshot(root)
    run = run_cli("apply", "--root", str(root), "--set", f"ollama_url[{stock}]={OLLAMA}")
    assert run.code == 0, run.err
    changed = _changed_lines(before, snapshot(root))
    assert len(changed) == 1 and changed[0][0] == "configs/model_config.py", changed
    assert OLLAMA in changed[0][2] and changed[0][1].count("\n") == 0
    # now configured for Ollama: inspect lists the entry, and a second apply changes nothing
    report = json.loads(run_cli("inspect", "--root", str(root), "--json").out)
    assert [e["name"] for e in report["ollama"]] == [stock]
    again = snapshot(root)
    assert run_cli("apply", "--root", str(root), "--set", f"ollama_url[{stock}]={OLLAMA}").code == 0
    assert snapshot(root) == again


@pytest.mark.parametrize("name", sorted(TAGS))
def test_each_02_tag_edits_its_timeout_in_one_line_or_says_why_not(tmp_path: Path, name: str) -> None:
    _, _, has_timeout = TAGS[name]
    root = _copy(tmp_path, name)
    before = snapshot(root)
    run = run_cli("apply", "--root", str(root), "--set", "api_timeout=77")
    if not has_timeout:
        assert_refused(run, "no such setting", "hard-coded")
        assert snapshot(root) == before
        return
    assert run.code == 0, run.err
    changed = _changed_lines(before, snapshot(root))
    assert changed == [
        ("configs/server_config.py", "HTTPX_DEFAULT_TIMEOUT = 300.0", "HTTPX_DEFAULT_TIMEOUT = 77.0")
    ]


@pytest.mark.parametrize("name", sorted(TAGS))
def test_an_unconfigured_02_checkout_is_named_and_never_edited(tmp_path: Path, name: str) -> None:
    label, _, _ = TAGS[name]
    root = _copy(tmp_path, name)
    for live in (root / "configs").glob("*_config.py"):
        live.rename(live.with_name(live.name + ".example"))
    report = json.loads(run_cli("inspect", "--root", str(root), "--json").out)
    assert report["configured"] is False and label in report["label"]
    before = tree_digest(tmp_path)
    assert_refused(run_cli("apply", "--root", str(root), "--set", "api_timeout=77"), "not configured yet")
    assert tree_digest(tmp_path) == before


LAYOUTS_030 = {
    "chatchat-0.3.0-pkgexample/site-packages/chatchat": "0.3.0–0.3.0.20240506",
    "chatchat-0.3.0-pkgconfigs/site-packages/chatchat": "0.3.0–0.3.0.20240506",
    "chatchat-0.3.0-pkgconfigs/home/.config/chatchat": "0.3.0–0.3.0.20240506",
    "chatchat-0.3.0-underscore/site-packages/chatchat": "0.3.0.20240606",
    "chatchat-0.3.0-json-object/home": "0.3.0.20240610",
    "chatchat-0.3.0-json-mixed/home": "0.3.0.20240610",
    "chatchat-0.3.0-json-list/home": "0.3.0.20240610",
    "chatchat-0.3.0-json-list-configured/home": "0.3.0.20240610",
}


@pytest.mark.parametrize("where", sorted(LAYOUTS_030))
def test_each_030_layout_is_recognised_and_not_edited(tmp_path: Path, where: str) -> None:
    name, _, sub = where.partition("/")
    root = _copy(tmp_path, name) / sub
    run = run_cli("inspect", "--root", str(root), "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["generation"] == "0.3.0" and LAYOUTS_030[where] in report["label"]
    assert any("does not edit" in a for a in report["advice"])
    before = tree_digest(tmp_path)
    assert_refused(run_cli("apply", "--root", str(root), "--set", "api_timeout=77"))
    assert tree_digest(tmp_path) == before


def test_031_entries_and_effects(tmp_path: Path) -> None:
    report = json.loads(run_cli("inspect", "--root", str(_copy(tmp_path, "chatchat-0.3.1")), "--json").out)
    assert report["label"].startswith("Chatchat 0.3.1+")
    assert [e["name"] for e in report["ollama"]] == ["ollama"]
    auto = next(k for k in report["knobs"] if k["name"] == "auto_detect_model")
    assert "60 s" in auto["effect"] and "0.3.1 fails the request" in auto["effect"]


ODD_031 = {
    "no scheme": (
        "    api_base_url: http://127.0.0.1:11434/v1",
        "    api_base_url: 127.0.0.1:11434/v1",
        "no http:// scheme",
    ),
    "bind address": (
        "    api_base_url: http://127.0.0.1:11434/v1",
        "    api_base_url: http://0.0.0.0:11434/v1",
        "listen-on-all",
    ),
    "no /v1": (
        "    api_base_url: http://127.0.0.1:11434/v1",
        "    api_base_url: http://127.0.0.1:11434",
        "lacks /v1",
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_031))
def test_inspect_flags_odd_031_entries_with_their_fix(tmp_path: Path, case: str) -> None:
    old, new, needle = ODD_031[case]
    root = _copy(tmp_path, "chatchat-0.3.1")
    model = root / "model_settings.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    report = json.loads(run_cli("inspect", "--root", str(root), "--json").out)
    flagged = [a for a in report["advice"] if a.startswith("problem: ollama:") and needle in a]
    assert flagged and "fix: chatchat-tune apply --set 'ollama_url[ollama]=" in flagged[0]


def test_inspect_flags_an_empty_api_key_and_stray_top_level_keys(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-0.3.1")
    model = root / "model_settings.yaml"
    text = model.read_text(encoding="utf-8")
    start = text.index("  - platform_name: ollama")
    key = text.index("    api_key: EMPTY", start)
    text = text[:key] + "    api_key: ''" + text[key + len("    api_key: EMPTY") :]
    model.write_text(text + "api_base_url: http://127.0.0.1:11434/v1\n", encoding="utf-8")
    advice = json.loads(run_cli("inspect", "--root", str(root), "--json").out)["advice"]
    assert any("api_key is empty" in a for a in advice)
    assert any("api_base_url at the top level" in a for a in advice)


def test_a_hand_made_02_entry_with_api_url_is_reported_and_never_given_a_routing_key(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-v0.2.10")
    model = root / "configs" / "model_config.py"
    text = model.read_text(encoding="utf-8")
    text = text.replace(
        "ONLINE_LLM_MODEL = {",
        'ONLINE_LLM_MODEL = {\n    "ollama": {"model_name": "qwen:7b", "api_url": "http://127.0.0.1:11434/v1"},',
        1,
    )
    model.write_text(text, encoding="utf-8")
    advice = json.loads(run_cli("inspect", "--root", str(root), "--json").out)["advice"]
    assert any("ollama: its URL is under 'api_url'" in a for a in advice)
    before = tree_digest(tmp_path)
    assert_refused(run_cli("apply", "--root", str(root), "--set", f"ollama_url[ollama]={OLLAMA}"), "ollama")
    assert tree_digest(tmp_path) == before
