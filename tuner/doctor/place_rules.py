"""Findings about where Chatchat runs and where the model runs. Pure: facts in, findings out.

``unreachable_from_chatchat``: an endpoint answers here and not where Chatchat runs; ``ollama_down``'s
wording when nothing answers from either side (``down_fixes``). The model's placement (``gpu_offload``,
``ctx_reload``, ``ctx_truncation``, ``load_timeout``) is in ``tuner.doctor.residency_rules``.
"""

from __future__ import annotations

from tuner.doctor.model import Finding, Fix, InstallFacts, ProbeFacts
from tuner.doctor.place import PlaceFacts, Reached, Side
from tuner.i18n import _
from tuner.install.endpoints import with_host

NETSH = "netsh interface ipv4 show excludedportrange protocol=tcp"
ADD_HOST = "--add-host=host.docker.internal:host-gateway"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def own_container(s: Side, here: Side | None) -> str | None:
    """The container Chatchat's side runs in, unless this side runs in the very same kind (then the
    boundary is a network namespace or another host, not a container of this machine)."""
    if s.container and (here is None or here.container != s.container):
        return s.container
    return None


def where_words(s: Side, how: str, here: Side | None = None) -> str:
    if own_container(s, here):
        return _("in a container ({engine}, via {how})").format(engine=s.container, how=how)
    if s.wsl:
        return _("in WSL (via {how})").format(how=how)
    return _("where Chatchat runs (via {how})").format(how=how)


def _got(r: Reached) -> str:
    if r.ok:
        return _("HTTP {status} in {time} (connect {connect})").format(
            status=r.status, time=_ms(r.seconds), connect=_ms(r.connect_s)
        )
    return _("{error} after {time} ({detail})").format(
        error=r.error, time=_ms(r.seconds), detail=r.detail or "-"
    )


def _entry(name: str) -> str:
    return f"[{name}]" if name else "[ollama]"


def _host_setting(port: int) -> str:
    return "ollama_host=0.0.0.0" if port == 11434 else f"ollama_host=0.0.0.0:{port}"


def _fixes(
    url: str, target: Reached, remote: Side, entry: str, here: Side, *, ollama: bool = True
) -> tuple[str, tuple[Fix, ...]]:
    """(the cause in words, the fixes) for a target that answers here and not there; ``url`` is the
    entry's URL as configured, ``entry`` its name."""
    answered = next((a for a in target.alternates if a.ok), None)
    refused = next((a for a in target.alternates if a.error == "refused"), None)
    windows = _(
        "if Ollama runs on Windows, check that no excluded port range holds port {port}: {netsh}"
    ).format(port=target.port, netsh=NETSH)
    if answered is not None:
        new = with_host(url, answered.host)
        return (
            _("{host} there is not this machine; Ollama answers there at {address} ({via})").format(
                host=target.host, address=answered.host, via=answered.via
            ),
            (Fix("setting", _("point the entry at that address"), f"ollama_url{_entry(entry)}={new}"),),
        )
    if refused is not None:
        docker = own_container(remote, here) is not None
        resolves = remote.name_resolves("host.docker.internal")
        listen = (
            Fix(
                "service",
                _(
                    "make Ollama listen beyond 127.0.0.1 (OLLAMA_HOST; then firewall port {port} or give the "
                    "bridge address instead of 0.0.0.0)"
                ).format(port=target.port),
                _host_setting(target.port),
            )
            if ollama
            else Fix(
                "command",
                _("make {entry}'s server listen beyond 127.0.0.1 (its own host setting)").format(entry=entry),
            )
        )
        fixes = [
            listen,
            Fix(
                "setting",
                _("then point the entry at this machine's address as seen from there"),
                f"ollama_url{_entry(entry)}={with_host(url, refused.host)}",
            ),
        ]
        if docker:
            words = (
                _("or use host.docker.internal (it resolves in this container)")
                if resolves
                else _(
                    "or use host.docker.internal, started with {add_host} (docker run) or extra_hosts "
                    "(compose): on Linux it does not exist without it"
                ).format(add_host=ADD_HOST)
            )
            fixes.append(
                Fix("setting", words, f"ollama_url{_entry(entry)}={with_host(url, 'host.docker.internal')}")
            )
        if remote.wsl:
            fixes.append(
                Fix(
                    "command",
                    _(
                        "or turn on WSL's mirrored networking (networkingMode=mirrored in "
                        "%UserProfile%\\.wslconfig), where 127.0.0.1 is Windows' own"
                    ),
                )
            )
            fixes.append(Fix("command", windows))
        return (
            _(
                "{server} listens on 127.0.0.1 only: this machine ({address}, {via}) refuses port {port} "
                "from there"
            ).format(
                server="Ollama" if ollama else entry, address=refused.host, via=refused.via, port=target.port
            ),
            tuple(fixes),
        )
    tried = ", ".join(f"{a.host} ({a.via}): {a.error}" for a in target.alternates) or _("none found")
    fixes2 = [
        Fix(
            "command",
            _(
                "let Chatchat's network reach this machine's port {port}: a firewall drops it, or the "
                "two are on networks that do not route to each other"
            ).format(port=target.port),
        )
    ]
    if remote.wsl:
        fixes2.append(Fix("command", windows))
    return _("no address of this machine answers from there (tried: {tried})").format(tried=tried), tuple(
        fixes2
    )


def unreachable(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    place: PlaceFacts | None = p.place
    if place is None:
        return []
    if place.remote is None:
        return [
            Finding(
                "place_probe_failed",
                "warn",
                _("the probe could not run where Chatchat runs"),
                None,
                "-",
                (_("{how}: {error}").format(how=place.how, error=place.error or "-"),),
                (Fix("command", _("check the --exec prefix and that python3 (or --python) exists there")),),
            )
        ]
    out = []
    remote = place.remote
    for n, (here, there) in enumerate(zip(place.host.targets, remote.targets, strict=False)):
        if not here.ok or there.ok:
            continue
        probed = place.targets[n] if n < len(place.targets) else None
        entry = probed.name if probed is not None else i.entry or "ollama"
        url = (probed.configured if probed is not None else "") or i.ollama_url or there.url
        ollama = probed is None or probed.path == "/api/version"
        cause, fixes = _fixes(url, there, remote, entry, place.host, ollama=ollama)
        evidence = [
            _("here: GET {url} → {got}").format(url=here.url, got=_got(here)),
            _("{where}: the same GET → {got}").format(
                where=where_words(remote, place.how, place.host), got=_got(there)
            ),
            cause,
        ]
        if there.addresses and there.addresses != (there.host,):
            evidence.append(
                _("{host} resolves there to {addresses}").format(
                    host=there.host, addresses=", ".join(there.addresses)
                )
            )
        for a in there.alternates:
            evidence.append(_("tried {host} ({via}): {got}").format(host=a.host, via=a.via, got=_got(a)))
        out.append(
            Finding(
                "unreachable_from_chatchat",
                "error",
                _("Chatchat cannot reach {url} from where it runs, though it answers here").format(
                    url=here.url
                ),
                None,
                "request",
                tuple(evidence),
                fixes,
                unbounded=False,
            )
        )
    return out


def reached_elsewhere(p: ProbeFacts) -> bool:
    """Whether Chatchat's side reached the Ollama endpoint (then it is not down, whatever this side saw)."""
    place = p.place
    if place is None or place.remote is None or not place.remote.targets:
        return False
    return place.remote.targets[0].ok


def down_fixes(i: InstallFacts, p: ProbeFacts) -> tuple[tuple[str, ...], tuple[Fix, ...]]:
    """Evidence and fixes of ``ollama_down``: nothing answers from either side."""
    place = p.place
    evidence: list[str] = []
    fixes: list[Fix] = []
    if place is not None and place.remote is not None and place.remote.targets:
        evidence.append(
            _("{where}: {got}").format(
                where=where_words(place.remote, place.how, place.host), got=_got(place.remote.targets[0])
            )
        )
    state = place.port_state if place is not None else None
    port = place.host.targets[0].port if place is not None and place.host.targets else 11434
    if state == "forbidden":
        evidence.append(
            _(
                "this machine may not listen on port {port} either (permission denied): a Windows "
                "excluded port range holds it"
            ).format(port=port)
        )
        fixes.append(
            Fix(
                "command",
                _(
                    "show the excluded ranges: {netsh}; then move Ollama with OLLAMA_HOST "
                    "to a free port (and the entry with it)"
                ).format(netsh=NETSH),
            )
        )
    elif state == "in_use":
        evidence.append(_("another program holds port {port} here and refuses HTTP").format(port=port))
        fixes.append(
            Fix(
                "command",
                _("find what holds port {port} (ss -ltnp, or netstat -ano on Windows)").format(port=port),
            )
        )
    fixes.append(Fix("command", _("start Ollama (ollama serve, or the Ollama app / service)")))
    fixes.append(
        Fix(
            "command",
            _(
                "if it runs, it listens elsewhere: see OLLAMA_HOST in its service "
                "environment, or {netsh} on Windows"
            ).format(netsh=NETSH),
        )
    )
    return tuple(evidence), tuple(fixes)
