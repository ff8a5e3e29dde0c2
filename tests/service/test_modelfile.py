"""The place fixes as artifacts: a derived model's Modelfile and the service variables, reviewed and written
like the service settings (never applied to the system, the install untouched), on every system."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner.apply.run import ApplyRequest, run_apply
from tuner.errors import UserError
from tuner.plan.settings import parse_setting
from tuner.service.artifact import for_system
from tuner.service.modelfile import derived_name, modelfile_artifacts


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_derived_names_keep_the_model_and_tag() -> None:
    assert derived_name("qwen2:7b", [("num_ctx", "8192")]) == "qwen2:7b-ctx8192"
    assert derived_name("qwen2", [("num_ctx", "8192")]) == "qwen2:latest-ctx8192"
    assert derived_name("library/qwen2:7b", [("num_ctx", "4096")]) == "library/qwen2:7b-ctx4096"


def test_modelfile_and_create_commands_per_system() -> None:
    arts = modelfile_artifacts([("qwen2:7b", "num_ctx", "8192")])
    modelfile = arts[0]
    assert modelfile.filename == "Modelfile.qwen2-7b-ctx8192"
    assert modelfile.text.endswith("FROM qwen2:7b\nPARAMETER num_ctx 8192\n")
    assert [a.filename for a in for_system(arts, "linux")] == [
        "Modelfile.qwen2-7b-ctx8192",
        "ollama-create-qwen2-7b-ctx8192.sh",
    ]
    assert [a.filename for a in for_system(arts, "darwin")][1].endswith(".sh")
    windows = for_system(arts, "win32")
    assert [a.filename for a in windows][1].endswith(".ps1")
    assert "ollama create qwen2:7b-ctx8192 -f Modelfile.qwen2-7b-ctx8192\r\n" in windows[1].text


def test_apply_writes_the_modelfile_and_service_variables_never_the_install(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = _snapshot(root)
    folder = tmp_path / "svc"
    settings = tuple(
        parse_setting(s)
        for s in ("num_ctx=8192", "ollama_host=0.0.0.0", "context_length=8192", "load_timeout=10m")
    )
    dry = run_apply(ApplyRequest(root=root, settings=settings, dry_run=True, service_out=folder))
    assert dry.plan.models == (("qwen:7b", "num_ctx", "8192"),) and dry.service_written == ()
    assert not folder.exists()
    done = run_apply(ApplyRequest(root=root, settings=settings, service_out=folder))
    names = [p.name for p in done.service_written]
    assert "Modelfile.qwen-7b-ctx8192" in names and "ollama-create-qwen-7b-ctx8192.ps1" in names
    assert (folder / "override.conf").read_text(encoding="utf-8") == (
        '[Service]\nEnvironment="OLLAMA_CONTEXT_LENGTH=8192"\nEnvironment="OLLAMA_HOST=0.0.0.0"\n'
        'Environment="OLLAMA_LOAD_TIMEOUT=10m"\n'
    )
    assert done.backup is None and _snapshot(root) == before


def test_dry_run_shows_the_modelfile_for_review(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    run = run_cli(
        "apply", "--root", str(root), "--dry-run", "--set", "num_ctx[qwen2:7b]=4096", "--all-systems"
    )
    assert run.code == 0, run.err
    assert "FROM qwen2:7b\nPARAMETER num_ctx 4096" in run.out
    assert "ollama create qwen2:7b-ctx4096 -f Modelfile.qwen2-7b-ctx4096" in run.out
    assert "nothing to change" not in run.out


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("ollama_host=http://0.0.0.0:11434/x", "host[:port]"),
        ("ollama_host=0.0.0.0:99999", "host[:port]"),
        ("load_timeout=soon", "not a load timeout"),
        ("context_length=0", "context_length"),
        ("num_ctx=-5", "num_ctx"),
    ],
)
def test_bad_values_are_one_line_errors(setting: str, problem: str) -> None:
    with pytest.raises(UserError) as info:
        parse_setting(setting)
    assert problem in str(info.value) and "\n" not in str(info.value)
