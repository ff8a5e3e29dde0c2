"""``diagnose``: the install's facts, the probes and the rules, in one call (what the CLI uses)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tuner.doctor.config import install_facts
from tuner.doctor.model import Report
from tuner.doctor.probes import probe
from tuner.doctor.probes_place import PlaceRequest
from tuner.doctor.proxy import verdict
from tuner.doctor.rules import findings
from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import LoadedInstall

DEFAULT_BUDGET = 8.0
MAX_BUDGET = 120.0


def code_patched(python: Path | None) -> bool | None:
    """Whether Chatchat's package (for that interpreter) carries the code patch; None when unknown."""
    if python is None:
        return None
    try:
        from tuner.codepatch import locate, patch_state
    except ImportError:
        return None
    try:
        state = patch_state(locate(python))
    except Exception:  # an unknown layout or version: say unknown, never fail the doctor for it
        return None
    text = str(getattr(state, "state", state))
    return True if text == "applied" else False if text == "absent" else None


def place_request(loaded: LoadedInstall, python: Path | None, exec_prefix: str | None) -> PlaceRequest | None:
    """What to run where Chatchat runs: ``--python`` alone, or ``--exec PREFIX`` (``--python`` inside it)."""
    if python is None and exec_prefix is None:
        return None
    from tuner.doctor.place import split_prefix, targets
    from tuner.install.endpoints import endpoints

    prefix: list[str] = []
    if exec_prefix is not None:
        try:
            prefix = split_prefix(exec_prefix)
        except ValueError as exc:
            raise UserError(
                _("--exec: {error} in {prefix!r}").format(error=exc, prefix=exec_prefix)
            ) from None
        if not prefix:
            raise UserError(_("--exec: an empty command prefix"))
    interpreter = str(python) if python is not None else "python3"
    how = " ".join(p for p in (exec_prefix, str(python) if python is not None else "") if p)
    found = targets(loaded.entries, endpoints(loaded).ollama_entry)
    return PlaceRequest(prefix=tuple(prefix), python=interpreter, how=how, targets=found)


def diagnose(
    loaded: LoadedInstall,
    *,
    budget: float = DEFAULT_BUDGET,
    python: Path | None = None,
    idle_gap: float | None = None,
    environ: Mapping[str, str] | None = None,
    proxy_info: Mapping[str, str] | None = None,
    exec_prefix: str | None = None,
    kb: str | None = None,
    allow_write: bool = False,
    ingest_bytes: int | None = None,
) -> Report:
    """Probe the install's endpoints for at most ``budget`` seconds and name the causes, worst first.

    ``proxy_info`` is ``urllib.request.getproxies()`` by default (environment, else system settings).
    ``python`` and ``exec_prefix``: where Chatchat runs (tuner.doctor.place); with a prefix, ``python`` is
    the interpreter on the other side of it (python3 when not given) and is not run here."""
    budget = min(max(budget, 0.5), MAX_BUDGET)
    place = place_request(loaded, python, exec_prefix)
    local_python = python if exec_prefix is None else None
    facts = install_facts(loaded, code_patched(local_python))
    env = dict(loaded.environ if environ is None else environ)
    info = dict(urllib.request.getproxies() if proxy_info is None else proxy_info)
    proxy = verdict(facts.ollama_url, info, env) if facts.ollama_url else None
    measured = probe(facts, budget=budget, python=local_python, place=place, environ=env)
    found = findings(facts, measured, proxy, idle_gap)
    from tuner.doctor.path import walk

    path, found = walk(
        loaded, facts, found, budget=budget - measured.elapsed, kb=kb, allow_write=allow_write,
        ingest_bytes=ingest_bytes,
    )  # fmt: skip
    return Report(facts, measured, proxy, found, idle_gap, path)
