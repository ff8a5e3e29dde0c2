"""The plan file: what to set, and each target file's hash when the plan was made (stale plans refused)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuner.apply.writer import sha256
from tuner.errors import UserError
from tuner.plan.build import Plan
from tuner.plan.settings import Setting, checked

FORMAT = "chatchat-tune-plan"


@dataclass(frozen=True)
class PlanFile:
    root: Path
    generation: str
    settings: tuple[Setting, ...]
    hashes: dict[str, str]  # absolute path -> sha256 at plan time
    python: Path | None = None  # set when the plan carries the code patch


def dumps(plan: Plan) -> str:
    data = {
        FORMAT: 1,
        "root": str(plan.root),
        "generation": plan.generation,
        "settings": [{"knob": s.knob, "entry": s.entry, "value": s.value} for s in plan.settings],
        "files": [{"path": str(f.file.path), "sha256": sha256(f.before)} for f in plan.files],
        "code_patch": {"python": str(plan.python)} if plan.python is not None else None,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> PlanFile:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UserError("no such plan file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the plan file ({exc})", path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"line {exc.lineno}: malformed plan file ({exc.msg})", path) from None
    if not isinstance(data, dict) or data.get(FORMAT) != 1:
        raise UserError(f'not a chatchat-tune plan file (no "{FORMAT}": 1)', path)
    try:
        items = data["settings"]
        if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
            raise UserError('malformed plan file: "settings" must be a list of objects', path)
        for s in items:
            if s.get("entry") is not None and not isinstance(s["entry"], str):
                raise UserError(f"malformed plan file: entry {s['entry']!r} is not a string", path)
        settings = tuple(checked(s["knob"], s.get("entry"), s["value"]) for s in items)
        hashes = {str(f["path"]): str(f["sha256"]) for f in data.get("files", [])}
        code = data.get("code_patch")
        python = Path(code["python"]) if isinstance(code, dict) and code.get("python") else None
        return PlanFile(Path(data["root"]), str(data["generation"]), settings, hashes, python)
    except (KeyError, TypeError) as exc:
        raise UserError(f"malformed plan file (missing {exc})", path) from None
    except UserError as exc:
        raise UserError(exc.message, path) from None


def check_fresh(planned: PlanFile, plan: Plan, plan_path: Path) -> None:
    """Refuse a plan whose files changed since it was made. A file that already holds the planned values
    (the plan was applied) is fine: applying a plan twice changes nothing the second time."""
    if planned.generation != plan.generation:
        raise UserError(
            f"this plan is for a {planned.generation} install; this one is {plan.generation}", plan_path
        )
    for f in plan.changed_files:
        recorded = planned.hashes.get(str(f.file.path))
        if recorded is None:
            raise UserError(f"stale plan: it does not cover {f.file.path}; make a new plan", plan_path)
        if recorded != sha256(f.before):
            raise UserError(
                f"stale plan: {f.file.path} changed since the plan was made; make a new plan", plan_path
            )
