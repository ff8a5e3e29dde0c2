"""Every --json output: its committed schema is the one generated from the models, and the command's real
output validates against it (strict JSON: no NaN/Infinity; a schema_version; no key left undeclared)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import FIXTURES, REPO, run_cli
from tuner.cli.schemagen import file_name, schemas, text
from tuner.lab.process import LabProcess

SCHEMAS = REPO / "docs" / "schemas"


def _strict(out: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(out, parse_constant=refuse)


def validate(command: str, out: str) -> dict[str, Any]:
    data = _strict(out)
    schema = json.loads((SCHEMAS / file_name(command)).read_text(encoding="utf-8"))
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["schema_version"] == 1
    return dict(data)


def test_the_committed_schemas_are_the_generated_ones() -> None:
    generated = schemas()
    committed = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert committed == {file_name(name) for name in generated}
    for name, schema in generated.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert (SCHEMAS / file_name(name)).read_text(encoding="utf-8") == text(schema), (
            f"{name}: run python -m tuner.cli.schemagen"
        )


@pytest.fixture(scope="module")
def lab() -> Iterator[LabProcess]:
    with LabProcess(profile="cpu-7b", time_scale=0.01) as server:
        yield server


@pytest.fixture
def root(tmp_path: Path, lab: LabProcess) -> Path:
    dest = tmp_path / "chatchat"
    shutil.copytree(FIXTURES / "chatchat-0.3.1", dest)
    run = run_cli("apply", "--root", str(dest), "--set", f"ollama_url=http://127.0.0.1:{lab.port}/v1")
    assert run.code == 0, run.err
    return dest


def test_inspect_apply_and_rollback(root: Path) -> None:
    validate("inspect", run_cli("inspect", "--root", str(root), "--json").out)
    dry = run_cli("apply", "--root", str(root), "--set", "api_timeout=77", "--dry-run", "--json")
    assert dry.code == 2, dry.err
    plan = validate("apply", dry.out)
    assert plan["pending"] and "77" in plan["changes"][0]["diff"]
    back = run_cli("rollback", "--root", str(root), "--dry-run", "--json")
    assert back.code == 2, back.err
    assert validate("rollback", back.out)["restored"]


def test_lab_profiles() -> None:
    run = run_cli("lab", "profiles", "--json")
    assert run.code == 0 and "Infinity" not in run.out
    validate("lab profiles", run.out)


def test_bench_doctor_and_warm_against_the_lab(root: Path, lab: LabProcess) -> None:
    bench = run_cli("bench", "--root", str(root), "-n", "3", "--path", "native", "--json")
    assert bench.code == 0, bench.err
    data = validate("bench", bench.out)
    assert data["summary"]["phases"][0]["p50_ms"] is not None
    doctor = run_cli("doctor", "--root", str(root), "--budget", "5", "--json")
    assert doctor.code in (0, 3), doctor.err
    validate("doctor", doctor.out)
    warm = run_cli("warm", "--root", str(root), "--keep-alive", "1m", "--json")
    assert warm.code == 0, warm.err
    validate("warm", warm.out)


def test_search(root: Path, tmp_path: Path) -> None:
    storage = "sqlite:///" + (tmp_path / "s.db").as_posix()
    args = ["--trials", "3", "--idle-gap", "10m", "--requests-per-trial", "3", "--storage", storage]
    run = run_cli("search", "--root", str(root), *args, "--json")
    assert run.code == 0, run.err[-2000:]
    data = validate("search", run.out)
    assert data["candidates"] and Path(data["plan_file"]).is_file()
