"""Messages in Simplified Chinese and English: the catalogs are complete and current, and the language is
chosen the way the docs say (docs/i18n.md). The CLI runs as a user runs it (``tests.conftest.run_cli``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LANGUAGE_VARIABLES, run_cli
from tuner import i18n
from tuner.i18n_catalog import check, extract, placeholders

CJK = re.compile(r"[\u4e00-\u9fff]")
SAMPLE = Path(i18n.__file__).resolve().parent / "data" / "sample-install"


# --- the catalogs -------------------------------------------------------------------------------------------


def test_every_marked_message_has_a_translation_with_the_same_placeholders_and_the_mo_is_current() -> None:
    """Extracts every ``_()``/``ngettext()`` message from the source (as ``scripts/i18n update`` does) and
    checks it against the zh_CN catalog: present, translated, not fuzzy, the same ``{name}``/``%s``
    placeholders, and a ``.mo`` that is the ``.po`` compiled. Fix: ``scripts/i18n update``, translate."""
    problems = check("zh_CN")
    assert not problems, "\n".join(f"{p.problem}: {p.message!r}" for p in problems[:40])


def test_extraction_finds_the_marked_messages() -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extract() if m.id}
    assert "nothing answers at {root}" in ids  # tuner/doctor/rules.py
    assert " (and {n} other reason)" in ids  # ngettext in tuner/measure/reasons.py
    assert len(ids) > 300


@pytest.mark.parametrize(
    ("english", "translated", "same"),
    [
        ("{path} is not a file", "{path} 不是文件", True),
        ("{path} is not a file", "{file} 不是文件", False),  # renamed
        ("{path} is not a file", "不是文件", False),  # dropped
        ("{path} is not a file", "{path} {extra} 不是文件", False),  # added
        ("{n:,} values in %s", "%s 中 {n:,} 个值", True),  # moved, format spec kept
        ("{n:,} values in %s", "{n} 个值", False),  # a printf placeholder dropped
        ("{value!r} bad", "{value!r} 无效", True),
        ("{{literal}} {x}", "{{literal}} {x}", True),
    ],
)
def test_placeholder_comparison(english: str, translated: str, same: bool) -> None:
    assert (set(placeholders(english)) == set(placeholders(translated))) is same


# --- choosing the language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_SG.UTF-8"}, "zh"),
        ({"LANG": "zh_Hans"}, "zh"),
        ({"LANG": "zh"}, "zh"),
        ({"LANG": "zh-CN"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),  # Traditional: no catalog, English
        ({"LANG": "C"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL first
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LANGUAGE": "zh_CN:en"}, "zh"),  # only when LC_ALL/LC_MESSAGES/LANG say nothing
        ({"LANGUAGE": "en_US:en", "LANG": "zh_CN.UTF-8"}, "zh"),
        ({"CHATCHAT_TUNE_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"CHATCHAT_TUNE_LANG": "zh", "LANG": "C"}, "zh"),
        ({"CHATCHAT_TUNE_LANG": "", "LANG": "zh_CN.UTF-8"}, "zh"),  # empty decides nothing
    ],
)
def test_language_from_the_environment(environ: dict[str, str], expected: str) -> None:
    assert i18n.detect(environ) == expected


@pytest.mark.parametrize(
    ("langid", "expected"), [(0x0804, "zh"), (0x1004, "zh"), (0x0404, "en"), (0x0409, "en")]
)
def test_windows_ui_language_when_no_variable_says(
    monkeypatch: pytest.MonkeyPatch, langid: int, expected: str
) -> None:
    """On Windows the locale variables are usually unset: the user's UI language decides (zh-CN, zh-SG)."""
    import ctypes
    from types import SimpleNamespace

    kernel32 = SimpleNamespace(GetUserDefaultUILanguage=lambda: langid)
    monkeypatch.setattr(ctypes, "windll", SimpleNamespace(kernel32=kernel32), raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    assert i18n.detect({}) == expected
    assert i18n.detect({"LANG": "C"}) == "en"  # a variable that is set still wins
    monkeypatch.setattr(sys, "platform", "linux")
    assert i18n.detect({}) == "en"


@pytest.fixture
def restore_language() -> Iterator[None]:
    yield
    i18n.set_language(None)


def test_set_language_translates_and_falls_back_to_english(restore_language: None) -> None:
    i18n.set_language("zh")
    assert i18n._("no such file") == "文件不存在"
    assert i18n.ngettext(" (and {n} other reason)", " (and {n} other reasons)", 3) == "（另有 {n} 种原因）"
    assert i18n._("a message nobody marked") == "a message nobody marked"
    assert i18n.tag() == "zh-CN"
    i18n.set_language("en")
    assert i18n.tag() == "en"
    assert i18n._("no such file") == "no such file"
    assert i18n.ngettext("{n} reason", "{n} reasons", 1) == "{n} reason"


# --- the CLI, as a user runs it -----------------------------------------------------------------------------


def _sample(tmp_path: Path) -> Path:
    root = tmp_path / "chatchat"
    shutil.copytree(SAMPLE, root)
    return root


def _effect_words(run_out: str) -> list[str]:
    return [k["effect"] for k in json.loads(run_out)["knobs"]]


def test_the_locale_chooses_and_chatchat_tune_lang_and_lang_override_it(tmp_path: Path) -> None:
    root = _sample(tmp_path)
    zh = run_cli("inspect", "--root", str(root), "--json", env={"LANG": "zh_CN.UTF-8"})
    assert zh.code == 0, zh.err
    assert all(CJK.search(words) for words in _effect_words(zh.out)), zh.out
    english = {"LANG": "C"}, {"LANG": "zh_CN.UTF-8", "CHATCHAT_TUNE_LANG": "en"}
    for env in english:
        run = run_cli("inspect", "--root", str(root), "--json", env=env)
        assert run.code == 0, run.err
        assert not CJK.search(run.out), (env, run.out[:300])
    by_option = run_cli("--lang", "en", "inspect", "--root", str(root), "--json", env={"LANG": "zh_CN.UTF-8"})
    assert by_option.code == 0 and not CJK.search(by_option.out), by_option.out[:300]
    by_option = run_cli("--lang=zh", "inspect", "--root", str(root), "--json", env={"LANG": "C"})
    assert by_option.code == 0 and CJK.search(by_option.out), by_option.out[:300]


def test_errors_and_help_in_chinese(tmp_path: Path) -> None:
    missing = run_cli("inspect", "--root", str(tmp_path / "nowhere"), env={"LANG": "zh_CN.UTF-8"})
    assert missing.code == 1 and "目录不存在" in missing.err, missing.err
    assert "Traceback" not in missing.err
    helped = run_cli("--lang", "zh", "--help")
    assert helped.code == 0 and "消息语言" in helped.out, helped.out
    bad = run_cli("--lang", "fr", "inspect", "--root", str(tmp_path))
    assert bad.code == 64, (bad.code, bad.err)


def test_doctor_on_the_demo_scenario_prints_its_findings_in_chinese(tmp_path: Path) -> None:
    """The issue's bar: ``LANG=zh_CN.UTF-8 chatchat-tune doctor`` on the demo's scenario (the bundled lab
    with the demo's faults and time scale, the bundled sample install pointed at it by ``localhost``)."""
    from tuner.cli.demo import IDLE_GAP, SCENARIO, TIME_SCALE
    from tuner.lab.process import LabProcess

    root = _sample(tmp_path)
    with LabProcess(profile="cpu-7b", time_scale=TIME_SCALE, faults=SCENARIO) as lab:
        url = f"http://localhost:{lab.port}/v1"
        pointed = run_cli("apply", "--root", str(root), "--set", f"ollama_url={url}")
        assert pointed.code == 0, pointed.err
        zh_env = {"LANG": "zh_CN.UTF-8", "NO_PROXY": "127.0.0.1,localhost,::1"}
        report = run_cli("doctor", "--root", str(root), "--idle-gap", IDLE_GAP, "--json", env=zh_env)
        assert report.code == 3, report.err
        findings = json.loads(report.out)["findings"]
        assert findings
        for f in findings:
            assert CJK.search(f["title"]), f
            assert all(CJK.search(e) for e in f["evidence"] if re.search(r"[a-z]{3,} [a-z]{3,}", e)), f
            assert re.fullmatch(r"[a-z_]+", f["code"]), f  # codes stay English
        titles = {f["code"]: f["title"] for f in findings}
        assert "localhost_slow" in titles and "的新连接较慢" in titles["localhost_slow"], titles
        text = run_cli("doctor", "--root", str(root), "--idle-gap", IDLE_GAP, env=zh_env)
        assert text.code == 3 and titles["localhost_slow"].split("：")[0] in text.out, text.out
        # A Western Windows code page: no UnicodeEncodeError, the Chinese replaced, the codes intact.
        proc = subprocess.run(
            [sys.executable, "-m", "tuner", "doctor", "--root", str(root), "--idle-gap", IDLE_GAP],
            capture_output=True,
            env={**_clean_env(), **zh_env, "PYTHONIOENCODING": "cp1252", "COLUMNS": "200"},
            timeout=120,
        )
        out, err = proc.stdout.decode("cp1252"), proc.stderr.decode("cp1252")
        assert proc.returncode == 3 and "Traceback" not in err, err[-2000:]
        assert "ollama_url" in out and "?" in out, out


def _clean_env() -> dict[str, str]:
    drop = ("CHATCHAT_ROOT", "HTTPX_DEFAULT_TIMEOUT", *LANGUAGE_VARIABLES)
    return {k: v for k, v in os.environ.items() if k.upper() not in drop}
