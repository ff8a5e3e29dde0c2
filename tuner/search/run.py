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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tuner.errors import UserError

if TYPE_CHECKING:
    import optuna

    from tuner.install.files import LoadedInstall
    from tuner.plan.build import Plan
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
    requests_per_trial: int = 10
    current_keep_alive: str | None = None  # default: $OLLAMA_KEEP_ALIVE, else Ollama's 5m
    objective: Objective = "p95"
    memory_free: bool = False
    memory_budget: float | None = None  # GB, average resident
    storage: str | None = None  # default: sqlite in ROOT/.chatchat-tune/search.db
    study_name: str = "chatchat-tune"
    trials: int = 30
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


def run_search(
    request: SearchRequest,
    *,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
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
        raise UserError("the install has no Ollama entry with a model; pass --url and --model")
    code: list[tuple[Path, bytes, bytes]] = []
    if request.patch_code:
        from tuner.plan.codeplan import code_patch_inputs

        code, _ = code_patch_inputs(loaded, request.python, [])
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
    )
    spec = StudySpec(
        storage_url(request.storage, loaded.install.root),
        request.study_name,
        request.trials,
        request.seed,
        request.objective,
        request.memory_budget,
    )
    host = urlsplit(ollama_root).hostname or "127.0.0.1"
    outcome = search(inputs, spec, host=host, on_trial=on_trial, on_stage=on_stage)
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

        out = state_dir(loaded.install.root) / "plan.json"
    save_plan(plan, out)
    service: tuple[Path, ...] = ()
    if service_out is not None and plan.service:
        from tuner.apply.outputs import write_service_artifacts

        service = write_service_artifacts(service_out, dict(plan.service))
    return SearchPlan(plan=plan, path=out, service_written=service)
