"""What the tuning left, read from the install's state folder: the plan, the study, the applied record.

- The plan (``--plan``, else ``ROOT/.chatchat-tune/plan.json`` when present): its ``keep_alive``, the
  service variable ``apply`` prints for the user to set (tuner.plan.planfile).
- The study (Optuna storage, default ``ROOT/.chatchat-tune/search.db``): the verified winner's pooled
  request totals, from the ``verify`` record the search keeps (tuner.search.session). Needs the search
  extra (optuna); without it, or without a study, there is no p95 baseline and the note says why.
- The applied record: the newest backup set ``apply`` completed (tuner.apply.rollback.backup_sets), whose
  manifest holds each written file's hash after the write.
- The settings hash: every settings file of the install and the environment variables that override
  them (tuner.install.environ), hashed; any edit changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import LoadedInstall, read_bytes, sha256
from tuner.redact import mask_url
from tuner.watch.model import Baseline, Target


def install_id(root: Path) -> str:
    """A stable label for an install: its folder's name and a hash of its resolved path (no secret, and
    two installs with the same folder name stay apart)."""
    resolved = root.resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
    return f"{resolved.name or 'install'}-{digest}"


def target_for(loaded: LoadedInstall, name: str | None = None) -> Target:
    from tuner.install.endpoints import endpoints

    ep = endpoints(loaded)
    root = loaded.install.root
    return Target(
        install=name or install_id(root),
        root=str(root),
        ollama_root=ep.ollama_root,
        ollama_url=ep.ollama_url,
        model=ep.model,
        chatchat_api=ep.chatchat_api,
        endpoint=mask_url(ep.ollama_root or "-"),
    )


def settings_paths(loaded: LoadedInstall) -> tuple[Path, ...]:
    return tuple(sorted(f.file.path for f in loaded.files.values()))


def settings_hash(loaded: LoadedInstall, contents: Mapping[Path, bytes | None]) -> str:
    """The hash of the settings in force: each file's bytes (None: unreadable) and the environment
    overrides Chatchat would apply. Twelve hex digits: enough to tell an edit, short as a label."""
    from tuner.install.environ import env_overrides

    h = hashlib.sha256()
    for path in sorted(contents):
        data = contents[path]
        h.update(f"{path}\0{sha256(data) if data is not None else '-'}\n".encode())
    for o in sorted(env_overrides(loaded), key=lambda o: o.var):
        h.update(f"env {o.var}\0{sha256(o.value.encode('utf-8'))}\n".encode())
    return h.hexdigest()[:12]


def read_settings(paths: tuple[Path, ...]) -> dict[Path, bytes | None]:
    out: dict[Path, bytes | None] = {}
    for p in paths:
        try:
            out[p] = read_bytes(p)
        except (UserError, OSError):
            out[p] = None
    return out


def applied_hashes(root: Path) -> dict[str, str] | None:
    """path -> sha256 the newest completed apply wrote; None when no apply is recorded (or readable)."""
    try:
        from tuner.apply.rollback import backup_sets

        sets = backup_sets(root)
    except (UserError, OSError):
        return None
    for backup in reversed(sets):
        if backup.manifest.get("status") != "applied":
            continue
        files = backup.manifest.get("files")
        if not isinstance(files, list):
            return None
        return {
            str(f["path"]): str(f["sha256_after"])
            for f in files
            if isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and isinstance(f.get("sha256_after"), str)
        }
    return None


def changed_since_apply(
    applied: dict[str, str] | None, contents: Mapping[Path, bytes | None]
) -> tuple[str, ...] | None:
    """Files the last apply wrote that hold something else now (None: no apply recorded)."""
    if applied is None:
        return None
    changed = []
    for path, digest in sorted(applied.items()):
        data = contents.get(Path(path))
        if data is None:
            try:
                data = read_bytes(Path(path))
            except (UserError, OSError):
                data = None
        if data is None or sha256(data) != digest:
            changed.append(path)
    return tuple(changed)


def planned_keep_alive(root: Path, plan: Path | None) -> tuple[float | None, str | None]:
    """(seconds, the plan file) of the plan's keep_alive; (None, file) when the plan sets none."""
    from tuner.knobs.values import keep_alive_seconds
    from tuner.plan import planfile

    path = plan
    if path is None:
        from tuner.apply.writer import STATE_DIR

        path = root / STATE_DIR / "plan.json"
        if not path.is_file():
            return None, None
    loaded = planfile.load(path)  # a bad plan file is a one-line error naming it
    for s in loaded.settings:
        if s.knob == "keep_alive":
            return keep_alive_seconds(s.value), str(path)
    return None, str(path)


def _winner(verify: list[Any], winner: object) -> dict[str, Any] | None:
    entries = [m for m in verify if isinstance(m, dict) and isinstance(m.get("totals_ms"), list)]
    named = next((m for m in entries if m.get("label") == winner), None)
    if named is not None:
        return named
    # A study from before the winner was recorded: the fastest error-free candidate (choose()'s pick when
    # memory is free), else the baseline.
    from tuner.measure.stats import percentile

    clean = [m for m in entries if m.get("errors") == 0 and m["totals_ms"]]
    return min(clean, key=lambda m: percentile(m["totals_ms"], 0.95)) if clean else None


def study_totals(storage: str, study_name: str) -> tuple[tuple[float, ...], str | None, str]:
    """(the winner's totals in seconds, its label, a note when there are none)."""
    try:
        import optuna
    except ImportError:
        return (), None, _("no p95 baseline: reading the study needs the search extra (optuna)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return (), None, _("no p95 baseline: no study named {name}").format(name=repr(study_name))
    except Exception as exc:  # a storage optuna cannot open: no baseline, said in one line
        return (), None, _("no p95 baseline: cannot open the study ({kind})").format(kind=type(exc).__name__)
    verify = study.user_attrs.get("verify")
    if not isinstance(verify, list):
        return (), None, _("no p95 baseline: the study has no verified winner (search did not finish)")
    chosen = _winner(verify, study.user_attrs.get("winner"))
    if chosen is None:
        return (), None, _("no p95 baseline: no verified candidate without errors")
    totals = tuple(float(x) / 1000 for x in chosen["totals_ms"] if isinstance(x, int | float) and x >= 0)
    return totals, str(chosen.get("label")), ""


def load_baseline(
    root: Path, *, plan: Path | None = None, storage: str | None = None, study_name: str = "chatchat-tune"
) -> Baseline:
    keep_alive, plan_file = planned_keep_alive(root, plan)
    if storage is None:
        from tuner.apply.writer import STATE_DIR

        db = root / STATE_DIR / "search.db"
        if not db.is_file():
            return Baseline(
                planned_keep_alive=keep_alive, plan_file=plan_file, note=_("no p95 baseline: no study")
            )
        storage = "sqlite:///" + db.as_posix()
    totals, winner, note = study_totals(storage, study_name)
    return Baseline(
        planned_keep_alive=keep_alive,
        plan_file=plan_file,
        totals=totals,
        winner=winner,
        study=f"{mask_url(storage)} {study_name}" if totals else None,
        note=note,
    )
