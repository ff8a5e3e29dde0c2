"""``watch`` from start to end: the install opened, rounds run, metrics served, ``--once``, ``--emit``.

    watcher = Watcher.open(WatchRequest(root=root))
    report = watcher.round()                 # one bounded round, judged (tuner.watch.drift)
    serve(watcher, on_round=render)          # until stopped: rounds every interval, /metrics on loopback

The interval, like every duration the watcher compares, is in the install's time: against the lab, it is
multiplied by the lab's ``time_scale`` (as the search does), so an hour of rounds takes seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import UserError
from tuner.i18n import _
from tuner.watch.model import Baseline, Probe, RoundReport, State, Target
from tuner.watch.rounds import MIN_INTERVAL, chat_every, plan_round, round_budget

if TYPE_CHECKING:
    import httpx

    from tuner.doctor.model import InstallFacts, ProxyVerdict
    from tuner.install.files import LoadedInstall
    from tuner.watch.exposition import Exporter

DEFAULT_LISTEN = ("127.0.0.1", 9464)
WATCH_EXTRA_HINT = "watch needs prometheus-client: pip install '.[watch]' (or 'chatchat-tune[watch]')"


@dataclass(frozen=True, kw_only=True)
class WatchRequest:
    root: Path | None = None
    interval: float = 60.0  # seconds, install time; at least MIN_INTERVAL
    probe_chat: float | None = None  # seconds between chat probes (install time); None: never
    plan: Path | None = None
    storage: str | None = None
    study_name: str = "chatchat-tune"
    name: str | None = None  # the install label (default: folder name + path hash)


def parse_listen(text: str, *, allow_remote: bool) -> tuple[str, int]:
    """``127.0.0.1:9464`` / ``[::1]:9464`` / ``localhost:9464`` → (host, port); non-loopback refused
    unless ``allow_remote`` (the metrics name the install and its endpoints)."""
    from tuner.lab.cli import is_loopback

    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UserError(_("--listen {value}: expected HOST:PORT, e.g. 127.0.0.1:9464").format(value=text))
    if not is_loopback(host) and not allow_remote:
        raise UserError(
            _(
                "--listen {host} is not a loopback address; the metrics name the install and its endpoints: "
                "pass --allow-remote to serve them beyond this machine"
            ).format(host=host)
        )
    return host, int(port_text)


class Watcher:
    """The install, its baseline and the state between rounds; ``round()`` runs one."""

    def __init__(
        self, request: WatchRequest, loaded: LoadedInstall, baseline: Baseline, time_scale: float
    ) -> None:
        from tuner.watch.probe import new_client

        self.request = request
        self.baseline = baseline
        self.time_scale = time_scale
        self.state = State()
        self.client: httpx.Client = new_client()
        self.every = chat_every(request.probe_chat, request.interval)
        self._use(loaded)

    @classmethod
    def open(cls, request: WatchRequest) -> Watcher:
        from tuner.install.loading import open_install
        from tuner.search.session import lab_time_scale
        from tuner.watch.baseline import load_baseline

        if request.interval < MIN_INTERVAL:
            raise UserError(
                _("--interval must be at least {floor:g} s, not {value:g} s").format(
                    floor=MIN_INTERVAL, value=request.interval
                )
            )
        if request.probe_chat is not None and request.probe_chat < request.interval:
            raise UserError(
                _("--probe-chat must be at least the interval ({value:g} s)").format(value=request.interval)
            )
        loaded = open_install(request.root)
        root = loaded.install.root
        baseline = load_baseline(
            root, plan=request.plan, storage=request.storage, study_name=request.study_name
        )
        from tuner.install.endpoints import endpoints

        ollama_root = endpoints(loaded).ollama_root
        scale = lab_time_scale(ollama_root) if ollama_root else 1.0
        return cls(request, loaded, baseline, scale)

    def _use(self, loaded: LoadedInstall) -> None:
        import urllib.request

        from tuner.doctor.config import install_facts
        from tuner.doctor.proxy import verdict
        from tuner.watch.baseline import settings_paths, target_for

        self.loaded = loaded
        self.target: Target = target_for(loaded, self.request.name)
        self.facts: InstallFacts = install_facts(loaded)
        self.proxy: ProxyVerdict | None = (
            verdict(self.facts.ollama_url, urllib.request.getproxies(), dict(loaded.environ))
            if self.facts.ollama_url
            else None
        )
        self.paths = settings_paths(loaded)
        self.hash: str | None = None
        self.listed: bool | None = None  # the model in /api/tags, last asked
        self.pair: tuple[Probe, Probe] | None = None  # /api/version by name and by address, last asked

    @property
    def real_interval(self) -> float:
        return self.request.interval * self.time_scale

    def _settings(self) -> tuple[str, tuple[str, ...] | None]:
        from tuner.watch.baseline import applied_hashes, changed_since_apply, read_settings, settings_hash

        contents = read_settings(self.paths)
        digest = settings_hash(self.loaded, contents)
        if self.hash is not None and digest != self.hash:
            self._reload()
            contents = read_settings(self.paths)
            digest = settings_hash(self.loaded, contents)
        self.hash = digest
        return digest, changed_since_apply(applied_hashes(self.loaded.install.root), contents)

    def _reload(self) -> None:
        """The settings changed: read the install again (its endpoints may have moved)."""
        from tuner.install.loading import open_install

        try:
            loaded = open_install(self.loaded.install.root)
        except UserError:  # half-written or broken: keep watching what was configured
            return
        self._use(loaded)

    def round(self) -> RoundReport:
        from tuner.watch.alerts import holding
        from tuner.watch.drift import step
        from tuner.watch.findings import round_findings
        from tuner.watch.probe import run_round

        cpu0 = time.process_time()
        plan = plan_round(
            self.target, self.state.rounds, budget=round_budget(self.real_interval), every=self.every
        )
        obs = run_round(
            plan,
            client=self.client,
            model=self.target.model,
            index=self.state.rounds,
            settings=self._settings,
        )
        self.state, decisions = step(
            self.state, obs, self.baseline, model=self.target.model, time_scale=self.time_scale
        )
        if obs.listed is not None:
            self.listed = obs.listed
        by_name, by_address = obs.probe("version"), obs.probe("version_by_address")
        if by_name is not None and by_address is not None:
            self.pair = (by_name, by_address)
        found = round_findings(self.facts, obs, self.proxy, listed=self.listed, pair=self.pair)
        return RoundReport(
            target=self.target,
            observation=obs,
            decisions=decisions,
            findings=found,
            alerts=holding(decisions, found),
            state=self.state,
            time_scale=self.time_scale,
            cpu_seconds=time.process_time() - cpu0,
        )

    def close(self) -> None:
        self.client.close()


def exporter_class() -> type[Exporter]:
    """The exporter (the ``watch`` extra); a one-line error naming the extra when it is missing."""
    try:
        from tuner.watch.exposition import Exporter
    except ImportError:
        raise UserError(_(WATCH_EXTRA_HINT)) from None
    return Exporter


def serve(
    watcher: Watcher,
    *,
    listen: tuple[str, int],
    on_round: Callable[[RoundReport], None] = lambda _: None,
    on_ready: Callable[[str], None] = lambda _: None,
    stop: threading.Event | None = None,
    rounds: int | None = None,
) -> int:
    """Rounds every interval with the metrics served, until ``stop`` is set, SIGTERM, or ``rounds`` ran.
    Ctrl-C propagates (the CLI exits 130). Returns the rounds run."""
    import signal

    Exporter = exporter_class()

    stop = stop or threading.Event()
    exporter = Exporter(
        watcher.target,
        interval=watcher.real_interval,
        time_scale=watcher.time_scale,
        keeps_loaded=watcher.every is not None,
    )
    exporter.planned(watcher.baseline.planned_keep_alive)
    try:
        server = exporter.serve(*listen)
    except OSError as exc:
        raise UserError(
            _("cannot listen on {host}:{port}: {reason}").format(
                host=listen[0], port=listen[1], reason=exc.strerror or exc
            )
        ) from None
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    on_ready(f"http://{shown}:{port}/metrics")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = 0
    try:
        while not stop.is_set() and (rounds is None or done < rounds):
            started = time.monotonic()
            report = watcher.round()
            exporter.update(report)
            on_round(report)
            done += 1
            stop.wait(max(0.0, watcher.real_interval - (time.monotonic() - started)))
    finally:
        server.shutdown()
        server.server_close()
        watcher.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return done


@dataclass(frozen=True, kw_only=True)
class Emitted:
    path: Path
    status: str  # "written" or "unchanged"


def emit(
    folder: Path, *, force: bool = False, cold_loads_per_hour: float | None = None
) -> tuple[Emitted, ...]:
    """The alert rules and the dashboard written into ``folder``: atomically (tuner.apply.outputs), and a
    file that exists with other content is refused (nothing written) unless ``force``."""
    from tuner.apply.outputs import save_output
    from tuner.watch.alerts import (
        DASHBOARD_FILE,
        DEFAULT_COLD_LOADS_PER_HOUR,
        RULES_FILE,
        dashboard_json,
        rules_yaml,
    )

    if folder.exists() and not folder.is_dir():
        raise UserError(_("not a folder"), folder)
    rate = DEFAULT_COLD_LOADS_PER_HOUR if cold_loads_per_hour is None else cold_loads_per_hour
    files = ((folder / RULES_FILE, rules_yaml(rate)), (folder / DASHBOARD_FILE, dashboard_json()))
    same: set[Path] = set()
    for path, text in files:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise UserError(_("is not a regular file; nothing was written"), path)
        if path.exists():
            from tuner.install.files import read_bytes

            if read_bytes(path) == text.encode("utf-8"):
                same.add(path)
            elif not force:
                raise UserError(
                    _(
                        "exists with other content; review it, or pass --force to replace it "
                        "(nothing was written)"
                    ),
                    path,
                )
    out = []
    for path, text in files:
        if path not in same:
            save_output(path, text)
        out.append(Emitted(path=path, status="unchanged" if path in same else "written"))
    return tuple(out)
