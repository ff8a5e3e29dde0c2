"""`search` from start to end, in two steps with the caller's rendering between them.

    searched = run_search(SearchRequest(root=root, mean_gap=600.0), on_trial=..., on_stage=...)
    planned = plan_search(searched, out=None, service_out=None)   # the winner as a saved plan file
    write_plan(planned.plan, label)                                # tuner.apply.run, once the user agrees

:func:`run_search` reads the install, works out what it does today (the baseline) and runs the study
(:func:`tuner.search.session.search`). :func:`plan_search` turns the recommendation into a plan, saves it
and writes the Ollama service artifacts when asked; it never writes the install. Nothing here prints or
asks: the CLI shows the study's outcome before the plan is made, and asks before writing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    import optuna

    from tuner.install.files import LoadedInstall
    from tuner.plan.build import Plan
    from tuner.search.fingerprint import Fingerprint
    from tuner.search.session import SearchOutcome
    from tuner.search.study import Objective
    from tuner.search.through import Through
    from tuner.search.workload import Sizing


@dataclass(frozen=True, kw_only=True)
class SearchRequest:
    """A search as the user asked it (``chatchat-tune search``'s options, parsed and checked)."""

    mean_gap: float  # the typical idle gap between requests, real seconds
    root: Path | None = None  # None: $CHATCHAT_ROOT, else the working directory
    python: Path | None = None  # Chatchat's interpreter (its code-patch state; --patch-code)
    url: str | None = None  # the Ollama root to measure (default: the install's)
    model: str | None = None  # default: the install's first Ollama model
    gap_distribution: str = "exponential"
    requests_per_trial: int = 40  # enough that a trial's p95 is a percentile, not its worst request
    current_keep_alive: str | None = None  # default: $OLLAMA_KEEP_ALIVE, else Ollama's 5m
    objective: Objective = "p95"
    memory_free: bool = False
    memory_budget: float | None = None  # GB, average resident
    storage: str | None = None  # default: sqlite in ROOT/.chatchat-tune/search.db
    study_name: str = "chatchat-tune"
    trials: int = 30  # new trials this run adds (a resumed study keeps the ones it holds)
    seed: int = 0
    patch_code: bool = False  # search as if the code patch is in, and put it in the plan
    # Several users (tuner.search.users): at most one of users / rate / traffic.
    users: int | None = None  # closed loop: users at once, each with the idle-gap profile
    rate: float | None = None  # open loop: Poisson arrivals, requests per second
    traffic: tuple[float, ...] = ()  # open loop: arrival times read from the user's file
    embed_model: str | None = None  # each request embeds its question first (kb_chat)
    max_tokens: int | None = None  # tokens per answer in trials (default: the target's 16)
    slo: float | None = None  # size the box: the most users / highest rate at p95 <= slo (real seconds)


@dataclass(frozen=True, kw_only=True)
class Searched:
    request: SearchRequest
    loaded: LoadedInstall
    outcome: SearchOutcome
    code: tuple[tuple[Path, bytes, bytes], ...] = ()  # the code patch (file, before, after), when asked
    sizing: Sizing | None = None  # --slo: the most users (or highest rate) the winner serves in it
    through: Through | None = None  # the winner re-measured through Chatchat, beside the direct figure


@dataclass(frozen=True, kw_only=True)
class SearchPlan:
    plan: Plan
    path: Path  # where the plan file was saved
    service_written: tuple[Path, ...] = ()  # the Ollama service artifacts written (with service_out)


def storage_url(storage: str | None, root: Path) -> str:
    """The study's Optuna storage: ``storage`` when given, else sqlite in the install's state folder."""
    if storage:
        return storage
    from tuner.apply.writer import state_dir

    return "sqlite:///" + (state_dir(root) / "search.db").as_posix()


def workload_of(request: SearchRequest, loaded: LoadedInstall, model: str, max_tokens: int) -> Fingerprint:
    """The study's workload fingerprint for this request (see :mod:`tuner.search.fingerprint`)."""
    from tuner.search.fingerprint import Fingerprint

    return Fingerprint(
        model=model,
        idle_gap_s=request.mean_gap,
        gap_distribution=request.gap_distribution,
        requests_per_trial=request.requests_per_trial,
        max_tokens=max_tokens,
        install=loaded.layout.generation,
        code_patch="applied" if loaded.patched else "searched" if request.patch_code else "none",
        objective=request.objective,
        users=request.users or 1,
        rate_per_s=request.rate or 0.0,
        traffic_sha256=_times_sha256(request.traffic),
        embed_model=request.embed_model or "",
        trial_tokens=request.max_tokens or 0,
    )


def _times_sha256(times: tuple[float, ...]) -> str:
    """The replayed arrival times' hash ("" : no --traffic): the same file resumes the same study."""
    import hashlib

    if not times:
        return ""
    return hashlib.sha256(",".join(f"{t:.6f}" for t in times).encode()).hexdigest()


def plan_path(root: Path, study_name: str) -> Path:
    """Where a study's plan is saved by default: ``ROOT/.chatchat-tune/plans/<study>.json`` (characters a
    file name cannot hold on Windows become ``_``)."""
    from tuner.apply.writer import state_dir

    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", study_name).strip(" .") or "study"
    return state_dir(root) / "plans" / f"{safe}.json"


LATEST_PLAN = "plan.json"  # ROOT/.chatchat-tune/plan.json: a copy of the latest search's plan


def run_search(
    request: SearchRequest,
    *,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> Searched:
    """Read the install, take today's settings as the baseline, and run the study (progress through the
    callbacks, as :func:`tuner.search.session.search` reports it)."""
    from tuner.install.endpoints import endpoints
    from tuner.install.loading import open_install
    from tuner.search.current import current_settings
    from tuner.search.session import SearchInputs, lab_time_scale, search
    from tuner.search.study import StudySpec

    loaded = open_install(request.root, request.python)
    ep = endpoints(loaded)
    ollama_root = request.url.rstrip("/") if request.url else ep.ollama_root
    model = request.model or ep.model
    if not ollama_root or not model:
        raise UserError(_("the install has no Ollama entry with a model; pass --url and --model"))
    code: list[tuple[Path, bytes, bytes]] = []
    if request.patch_code:
        from tuner.plan.codeplan import code_patch_inputs

        code, _extra = code_patch_inputs(loaded, request.python, [])
    now = current_settings(loaded, ep.ollama_entry)
    from tuner.search.workload import search_target

    target, mean_gap, per_trial = search_target(
        request, ollama_root, model, lab_time_scale(ollama_root), loaded=loaded, entry=ep.ollama_entry
    )
    inputs = SearchInputs(
        target,
        loaded.layout.generation,
        # Neither generation reuses connections as shipped; the code patch does (candidates with
        # --patch-code reuse them, the baseline keeps today's behaviour).
        reuse=loaded.patched or request.patch_code,
        reuse_now=loaded.patched,
        current_timeout=now.timeout,
        current_keep_alive=request.current_keep_alive or os.environ.get("OLLAMA_KEEP_ALIVE") or "5m",
        current_expiry=now.keepalive_expiry,
        mean_gap=mean_gap,
        gap_distribution=request.gap_distribution if not request.rate else "exponential",
        requests_per_trial=per_trial,
        memory_free=request.memory_free,
        entry=ep.ollama_entry,
        configured_url=ep.ollama_url if not request.url else None,
        answer_tokens=now.max_tokens,
        traffic_gaps=tuple(b - a for a, b in zip(request.traffic, request.traffic[1:], strict=False)),
    )
    spec = StudySpec(
        storage_url(request.storage, loaded.install.root),
        request.study_name,
        request.trials,
        request.seed,
        request.objective,
        request.memory_budget,
        workload=workload_of(request, loaded, model, now.max_tokens),
    )
    host = urlsplit(ollama_root).hostname or "127.0.0.1"
    outcome = search(inputs, spec, host=host, on_trial=on_trial, on_stage=on_stage, on_progress=on_progress)
    from tuner.search.through import remeasure
    from tuner.search.workload import size_box

    sizing = size_box(request, inputs, outcome, host=host, on_stage=on_stage)
    through = remeasure(inputs.target, outcome, ep.chatchat_api, loaded.patched, host=host, on_stage=on_stage)
    from tuner.search.users import restore_server

    restore_server(inputs.target, outcome.space.facts, host)  # the service's variables as they were
    return Searched(
        request=request, loaded=loaded, outcome=outcome, code=tuple(code), sizing=sizing, through=through
    )


def plan_search(searched: Searched, *, out: Path | None, service_out: Path | None) -> SearchPlan:
    """The recommendation as a plan, saved to ``out`` (default ROOT/.chatchat-tune/plan.json), and the
    Ollama service artifacts written to ``service_out`` when given. The install itself is not written."""
    from tuner.apply.outputs import save_plan
    from tuner.plan.build import build_plan

    request, loaded = searched.request, searched.loaded
    chosen = list(searched.outcome.recommendation.settings)
    if request.patch_code:  # the keys the patch reads, at their defaults where the search chose no value
        from tuner.plan.codeplan import code_patch_inputs

        chosen += code_patch_inputs(loaded, request.python, chosen)[1]
    plan = build_plan(loaded, chosen, code=searched.code, python=request.python)
    if out is None:
        from tuner.apply.writer import state_dir

        out = plan_path(loaded.install.root, request.study_name)
        # The latest search's plan is also ROOT/.chatchat-tune/plan.json (docs: `apply --plan` with it).
        save_plan(plan, state_dir(loaded.install.root) / LATEST_PLAN)
    save_plan(plan, out)
    service: tuple[Path, ...] = ()
    if service_out is not None and (plan.service or plan.models):
        from tuner.apply.outputs import write_service_artifacts

        service = write_service_artifacts(service_out, dict(plan.service), plan.models)
    return SearchPlan(plan=plan, path=out, service_written=service)
