"""The CLI end to end on fixture installs: inspect, apply (dry-run, write, idempotence), plans, rollback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot

GENERATIONS = [
    ("chatchat-0.2.6", "0.2"),
    ("chatchat-0.2.10", "0.2"),
    ("chatchat-0.2.10-api-timeout", "0.2"),
    ("chatchat-0.3.1", "0.3.1"),
    ("chatchat-0.3.1-crlf", "0.3.1"),
    ("chatchat-0.3.1-bom", "0.3.1"),
]


def _knob(report: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(k for k in report["knobs"] if k["name"] == name)


@pytest.mark.parametrize(("name", "generation"), GENERATIONS)
def test_inspect_reports_generation_values_lines_and_ollama(install, name: str, generation: str) -> None:  # type: ignore[no-untyped-def]
    root = install(name)
    run = run_cli("inspect", "--root", str(root), "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["generation"] == generation
    timeout = _knob(report, "api_timeout")
    assert any(v["path"] == "HTTPX_DEFAULT_TIMEOUT" and v["line"] for v in timeout["values"])
    assert report["ollama"], "every fixture has an entry pointing at Ollama"
    assert all(e["line"] > 0 for e in report["ollama"])
    human = run_cli("inspect", "--root", str(root))
    assert human.code == 0 and "api_timeout" in human.out and "Ollama" in human.out


def test_inspect_finds_root_from_env_and_cwd(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    assert (
        json.loads(run_cli("inspect", "--json", env={"CHATCHAT_ROOT": str(root)}).out)["generation"]
        == "0.3.1"
    )
    assert json.loads(run_cli("inspect", "--json", cwd=root).out)["generation"] == "0.3.1"


def test_hand_added_api_timeout_is_the_knob_and_flagged(install) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(
        run_cli("inspect", "--root", str(install("chatchat-0.2.10-api-timeout")), "--json").out
    )
    values = _knob(report, "api_timeout")["values"]
    assert [v["path"] for v in values] == ["API_TIMEOUT", "HTTPX_DEFAULT_TIMEOUT"]
    assert "not read by stock Chatchat" in values[0]["note"]


def test_unconfigured_and_030_are_recognised(install) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("inspect", "--root", str(install("chatchat-0.2.10-unconfigured")), "--json")
    assert run.code == 0 and json.loads(run.out)["configured"] is False
    assert (
        "not configured yet" in run_cli("inspect", "--root", str(install("chatchat-0.2.10-unconfigured"))).out
    )
    refused = run_cli(
        "apply", "--root", str(install("chatchat-0.2.10-unconfigured")), "--set", "api_timeout=9"
    )
    assert refused.code == 1 and "not configured yet" in refused.err
    run = run_cli("inspect", "--root", str(install("chatchat-0.3.0")), "--json")
    assert run.code == 0 and json.loads(run.out)["generation"] == "0.3.0"


def test_env_overrides_are_reported(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1-env")
    env = json.loads((root / "env.json").read_text(encoding="utf-8"))["env"]
    env.pop("CHATCHAT_ROOT", None)
    report = json.loads(run_cli("inspect", "--root", str(root), "--json", env=env).out)
    found = {(o["var"], o["field"]) for o in report["overrides"]}
    assert found == {
        ("HTTPX_DEFAULT_TIMEOUT", "HTTPX_DEFAULT_TIMEOUT"),
        ("default_llm_model", "DEFAULT_LLM_MODEL"),
        ("API_SERVER", "API_SERVER"),
    }
    human = run_cli("inspect", "--root", str(root), env=env).out
    assert "HTTPX_DEFAULT_TIMEOUT=60" in human


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        (
            "chatchat-0.3.1",
            [
                "api_timeout=42",
                "ollama_url=http://127.0.0.1:11555/v1",
                "api_concurrencies=2",
                "auto_detect_model[xinference]=false",
            ],
        ),
        ("chatchat-0.3.1-crlf", ["api_timeout=42", "ollama_url=http://127.0.0.1:11555/v1"]),
        ("chatchat-0.3.1-bom", ["api_timeout=42", "auto_detect_model[xinference]=false"]),
        ("chatchat-0.2.10", ["api_timeout=42", "ollama_url=http://127.0.0.1:11555/v1"]),
        ("chatchat-0.2.6", ["api_timeout=42.5", "ollama_url=http://127.0.0.1:11555/v1"]),
    ],
)
def test_dry_run_apply_idempotence_rollback(install, name: str, sets: list[str]) -> None:  # type: ignore[no-untyped-def]
    root = install(name)
    before = snapshot(root)
    args = [a for s in sets for a in ("--set", s)]
    dry = run_cli("apply", "--root", str(root), "--dry-run", *args)
    assert dry.code == 2, dry.err
    assert dry.out.startswith("--- a/") and "+" in dry.out
    assert snapshot(root) == before, "--dry-run wrote nothing"
    changed_lines = [
        ln for ln in dry.out.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))
    ]
    assert len(changed_lines) == 2 * len(sets), "the diff touches only the lines of changed values"

    done = run_cli("apply", "--root", str(root), *args)
    assert done.code == 0, done.err
    after = snapshot(root)
    assert after != before
    for rel, data in after.items():  # encoding details kept file by file
        assert data.startswith(b"\xef\xbb\xbf") == before[rel].startswith(b"\xef\xbb\xbf")
        assert (b"\r\n" in data) == (b"\r\n" in before[rel])
    again = run_cli("apply", "--root", str(root), *args)
    assert again.code == 0 and "nothing to change" in again.out
    assert snapshot(root) == after
    assert run_cli("apply", "--root", str(root), "--dry-run", *args).code == 0

    back = run_cli("rollback", "--root", str(root))
    assert back.code == 0, back.err
    assert snapshot(root) == before, "rollback restores byte-identically"
    assert run_cli("rollback", "--root", str(root)).code == 1


def test_plan_file_and_stale_plan(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = tmp_path / "plan.json"
    assert (
        run_cli("apply", "--root", str(root), "--dry-run", "--set", "api_timeout=77", "--out", str(plan)).code
        == 2
    )
    assert json.loads(plan.read_text(encoding="utf-8"))["settings"] == [
        {"knob": "api_timeout", "entry": None, "value": 77.0}
    ]
    basic = root / "basic_settings.yaml"
    original = basic.read_bytes()
    basic.write_bytes(original + b"\n# edited by hand\n")
    unconfirmed = run_cli("apply", "--plan", str(plan), cwd=tmp_path)
    assert unconfirmed.code == 1 and f"confirm it with --root {root}" in unconfirmed.err, (
        "a plan outside its install writes only to a root the user names"
    )
    stale = run_cli("apply", "--plan", str(plan), "--root", str(root))
    assert stale.code == 1 and "stale plan" in stale.err
    basic.write_bytes(original)
    ok = run_cli("apply", "--plan", str(plan), cwd=root)
    assert ok.code == 0, ok.err
    assert b"77.0" in basic.read_bytes()
    after = basic.read_bytes()
    twice = run_cli("apply", "--plan", str(plan), env={"CHATCHAT_ROOT": str(root)})
    assert twice.code == 0 and "nothing to change" in twice.out, "applying a plan twice changes nothing"
    assert basic.read_bytes() == after
    other = run_cli("apply", "--plan", str(plan), "--root", str(tmp_path))
    assert other.code == 1 and "this plan was made for" in other.err


def test_service_knobs_become_an_artifact_never_applied(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = snapshot(root)
    out = tmp_path / "svc"
    run = run_cli(
        "apply",
        "--root",
        str(root),
        "--set",
        "keep_alive=30m",
        "--set",
        "num_parallel=2",
        "--service-out",
        str(out),
    )
    assert run.code == 0, run.err
    assert snapshot(root) == before
    conf = (out / "override.conf").read_text(encoding="utf-8")
    assert conf == '[Service]\nEnvironment="OLLAMA_KEEP_ALIVE=30m"\nEnvironment="OLLAMA_NUM_PARALLEL=2"\n'
    assert 'SetEnvironmentVariable("OLLAMA_KEEP_ALIVE", "30m", "User")' in (
        out / "ollama-env-windows.ps1"
    ).read_text(encoding="utf-8")
    assert "launchctl setenv OLLAMA_KEEP_ALIVE" in (out / "ollama-env-macos.sh").read_text(encoding="utf-8")
    printed = run_cli("apply", "--root", str(root), "--set", "keep_alive=-1")
    assert 'Environment="OLLAMA_KEEP_ALIVE=-1"' in printed.out


def test_expression_refused_unless_replace(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.2.10")
    refused = run_cli("apply", "--root", str(root), "--dry-run", "--set", "bind_host=127.0.0.1")
    assert refused.code == 1 and "expression" in refused.err and "--replace" in refused.err
    ok = run_cli("apply", "--root", str(root), "--dry-run", "--replace", "--set", "bind_host=127.0.0.1")
    assert ok.code == 2 and 'DEFAULT_BIND_HOST = "127.0.0.1"' in ok.out


def _assert_clean_failure(run, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], run.err
    assert "Traceback" not in run.err


@pytest.mark.parametrize(
    ("name", "rel", "damage", "needle"),
    [
        ("chatchat-0.2.10", "configs/server_config.py", b"HTTPX_DEFAULT_TIMEOUT = (\n", "server_config.py"),
        ("chatchat-0.3.1", "basic_settings.yaml", b"API_SERVER: [unclosed\n", "basic_settings.yaml"),
        ("chatchat-0.3.1", "model_settings.yaml", b"\xff\xfe bad bytes\n", "not UTF-8"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    install, name: str, rel: str, damage: bytes, needle: str
) -> None:  # type: ignore[no-untyped-def]
    root = install(name)
    target = root / rel
    target.write_bytes(target.read_bytes() + damage)
    before = snapshot(root)
    for args in (["inspect"], ["apply", "--set", "api_timeout=5"]):
        run = run_cli(*args, "--root", str(root))
        _assert_clean_failure(run, needle)
    assert snapshot(root) == before


def test_read_only_file_and_outside_symlink_are_refused(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    basic = root / "basic_settings.yaml"
    os.chmod(basic, 0o444)
    before = snapshot(root)
    _assert_clean_failure(run_cli("apply", "--root", str(root), "--set", "api_timeout=5"), "read-only")
    assert snapshot(root) == before
    os.chmod(basic, 0o644)
    outside = tmp_path / "elsewhere.yaml"
    outside.write_bytes(basic.read_bytes())
    basic.unlink()
    try:
        basic.symlink_to(outside)
    except OSError:
        pytest.skip("no symlinks here")
    _assert_clean_failure(
        run_cli("apply", "--root", str(root), "--set", "api_timeout=5"), "leaves the install"
    )
    assert outside.read_bytes() == before["basic_settings.yaml"]


def test_usage_errors(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    _assert_clean_failure(run_cli("apply", "--root", str(root)), "nothing to apply")
    _assert_clean_failure(run_cli("apply", "--root", str(root), "--set", "warp=9"), "unknown knob")
    _assert_clean_failure(
        run_cli("apply", "--root", str(root), "--set", "ollama_url[nope]=http://127.0.0.1:1/v1"),
        "no such entry",
    )
    _assert_clean_failure(run_cli("inspect", "--root", str(root / "missing")), "no such folder")
    _assert_clean_failure(run_cli("apply", "--plan", str(root / "basic_settings.yaml")), "plan file")


def test_service_commands_for_this_system_unless_all_are_asked(install) -> None:  # type: ignore[no-untyped-def]
    import sys

    root = install("chatchat-0.3.1")
    mine = run_cli("apply", "--root", str(root), "--dry-run", "--set", "keep_alive=30m")
    every = run_cli("apply", "--root", str(root), "--dry-run", "--set", "keep_alive=30m", "--all-systems")
    assert mine.code == every.code == 0, mine.err + every.err  # service settings only: no file changes
    assert every.out.count("# --- ") == 4
    assert "launchctl" in every.out and "SetEnvironmentVariable" in every.out
    if sys.platform.startswith("linux"):
        assert "systemctl" in mine.out and "launchctl" not in mine.out and "--all-systems" in mine.out
