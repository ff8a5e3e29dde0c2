"""``chatchat-tune lab serve|profiles`` (also ``python -m tuner.lab``)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from tuner.errors import UserError
from tuner.helptext import epilog
from tuner.i18n import _

EngineChoice = Literal["sim", "llama-cpp"]

if TYPE_CHECKING:  # `--help` stays cheap: the lab's modules load when a command runs
    from tuner.lab.engine import Engine
    from tuner.lab.profiles import Profile

app = typer.Typer(
    help="An Ollama-compatible lab server with real latency causes.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help, as the root app
)

LLAMA_HINT = "the llama-cpp engine needs the llama extra: pip install 'chatchat-tune[llama]'"


def make_engine(name: str, time_scale: float, seed: int) -> Engine:
    if name == "sim":
        from tuner.lab.sim import SimEngine

        return SimEngine(time_scale=time_scale, seed=seed)
    if name == "llama-cpp":
        try:
            import llama_cpp  # noqa: F401

            from tuner.lab.llama import LlamaCppEngine
        except ImportError:
            typer.echo(LLAMA_HINT, err=True)
            raise typer.Exit(1) from None
        engine: Engine = LlamaCppEngine(time_scale=time_scale, seed=seed)
        return engine
    raise UserError(f"unknown engine {name!r} (sim or llama-cpp)")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(host: str) -> None:
    if not is_loopback(host):
        raise UserError(
            f"--host {host!r} is not a loopback address; the lab listens only on 127.0.0.1, ::1 or localhost"
        )


def _with_model_path(profile: Profile, model_path: Path | None) -> Profile:
    if model_path is None:
        from tuner.lab.tinymodel import ensure_tiny_model

        model_path = Path(ensure_tiny_model())
    path = str(model_path)
    models = tuple(m if m.path else replace(m, path=path) for m in profile.models)
    return replace(profile, models=models)


def build_profile(
    profile: str | None,
    config: Path | None,
    *,
    time_scale: float | None = None,
    keep_alive: str | None = None,
    num_parallel: int | None = None,
    max_loaded_models: int | None = None,
    max_queue: int | None = None,
) -> Profile:
    from tuner.lab.profiles import get_profile, load_profile_file

    if profile is not None and config is not None:
        raise UserError("give --profile or --config, not both")
    chosen = load_profile_file(config) if config is not None else get_profile(profile or "cpu-7b")
    overrides: dict[str, Any] = {
        "time_scale": time_scale,
        "keep_alive": keep_alive,
        "num_parallel": num_parallel,
        "max_loaded_models": max_loaded_models,
        "max_queue": max_queue,
    }
    return replace(chosen, **{k: v for k, v in overrides.items() if v is not None})


@app.command(epilog=epilog("lab serve"))
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            help=_(
                "Loopback address to listen on (default: from $OLLAMA_HOST as Ollama reads it, an address "
                "for every interface becoming 127.0.0.1; else 127.0.0.1)."
            )
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help=_("Port (default: from $OLLAMA_HOST, else 11434; 0: any free port)."))
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Built-in profile (default cpu-7b).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON profile file.")] = None,
    time_scale: Annotated[float | None, typer.Option(help="Multiply every modelled duration.")] = None,
    engine: Annotated[
        EngineChoice, typer.Option(help=_("Simulated physics, or real llama.cpp inference."))
    ] = "sim",
    model_path: Annotated[Path | None, typer.Option(help="GGUF file for llama-cpp.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for jitter, text and faults.")] = 0,
    keep_alive: Annotated[
        str | None,
        typer.Option(help=_("Server default keep_alive (default: $OLLAMA_KEEP_ALIVE, else the profile's).")),
    ] = None,
    num_parallel: Annotated[
        int | None,
        typer.Option(help=_("Slots per model (default: $OLLAMA_NUM_PARALLEL, else the profile's).")),
    ] = None,
    max_loaded_models: Annotated[
        int | None,
        typer.Option(help=_("Models kept loaded (default: $OLLAMA_MAX_LOADED_MODELS, else the profile's).")),
    ] = None,
    max_queue: Annotated[
        int | None, typer.Option(help=_("Queued requests (default: $OLLAMA_MAX_QUEUE, else the profile's)."))
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help=_("Print one access-log line per request (stderr)."))
    ] = False,
    allow_non_loopback: Annotated[
        bool,
        typer.Option(
            "--allow-non-loopback",
            help=_(
                "Also accept a --host that is not loopback (an address of a network namespace a test made; "
                "the lab has no authentication)."
            ),
        ),
    ] = False,
) -> None:
    """Serve the Ollama API (native and /v1) until SIGINT/SIGTERM."""
    import os

    from tuner.lab.serve_env import address, env_defaults

    try:
        host, port = address(host, port, os.environ)
        if not allow_non_loopback:
            check_loopback(host)
        env = env_defaults(os.environ)
        chosen = build_profile(
            profile,
            config,
            time_scale=time_scale,
            keep_alive=keep_alive if keep_alive is not None else env.keep_alive,
            num_parallel=num_parallel if num_parallel is not None else env.num_parallel,
            max_loaded_models=max_loaded_models if max_loaded_models is not None else env.max_loaded_models,
            max_queue=max_queue if max_queue is not None else env.max_queue,
        )
        eng = make_engine(engine, chosen.time_scale, seed)
        if engine == "llama-cpp":
            chosen = _with_model_path(chosen, model_path)
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    import asyncio

    from tuner.lab.serve_env import access_logged
    from tuner.lab.server import LabApp

    lab = access_logged(LabApp)(chosen, eng, seed=seed) if verbose else LabApp(chosen, eng, seed=seed)

    def ready(url: str) -> None:
        print(f"lab ({chosen.name}, engine {engine}) listening on {url}", flush=True)

    try:
        asyncio.run(_serve(lab, host, port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        typer.echo(f"error: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from None


async def _serve(lab: Any, host: str, port: int, ready: Any) -> None:
    import asyncio
    import signal

    from tuner.lab.server import run_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    await run_server(lab, host, port, ready=ready, stop=stop)


@app.command(epilog=epilog("lab profiles"))
def profiles(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full profiles as JSON.")] = False,
) -> None:
    """List the built-in profiles."""
    from tuner.lab.profiles import PROFILES

    if as_json:
        from tuner.jsonout import dumps
        from tuner.lab.jsonmodel import lab_profiles_json

        typer.echo(dumps(lab_profiles_json(dict(PROFILES))), nl=False)
        return
    import shutil

    from tuner.helptext import wrap

    width = shutil.get_terminal_size().columns
    for name, p in PROFILES.items():
        chat = p.models[0]
        rates = f"load {chat.load_seconds:g}s, prompt {chat.prompt_tokens_per_s:g} tok/s"
        rates += f", gen {chat.gen_tokens_per_s:g} tok/s"
        line = f"{name:8} {', '.join(m.name for m in p.models)} ({rates})"
        typer.echo("\n".join(wrap(line, width, "", " " * 9)))


def main() -> None:
    app(prog_name="chatchat-tune lab")


if __name__ == "__main__":
    main()
