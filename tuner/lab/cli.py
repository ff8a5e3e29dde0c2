"""``chatchat-tune lab serve|profiles`` (also ``python -m tuner.lab``)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from tuner.errors import UserError
from tuner.lab.engine import Engine
from tuner.lab.profiles import PROFILES, Profile, get_profile, load_profile_file

app = typer.Typer(help="An Ollama-compatible lab server with real latency causes.", no_args_is_help=True)

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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (IPv4 loopback, as Ollama).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 11434,
    profile: Annotated[str | None, typer.Option(help="Built-in profile (default cpu-7b).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON profile file.")] = None,
    time_scale: Annotated[float | None, typer.Option(help="Multiply every modelled duration.")] = None,
    engine: Annotated[str, typer.Option(help="sim or llama-cpp.")] = "sim",
    model_path: Annotated[Path | None, typer.Option(help="GGUF file for llama-cpp.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for jitter, text and faults.")] = 0,
    keep_alive: Annotated[
        str | None, typer.Option(help="Server default keep_alive (OLLAMA_KEEP_ALIVE).")
    ] = None,
    num_parallel: Annotated[int | None, typer.Option(help="Slots per model (OLLAMA_NUM_PARALLEL).")] = None,
    max_loaded_models: Annotated[int | None, typer.Option(help="OLLAMA_MAX_LOADED_MODELS.")] = None,
    max_queue: Annotated[int | None, typer.Option(help="OLLAMA_MAX_QUEUE.")] = None,
    allow_non_loopback: Annotated[
        bool,
        typer.Option(
            "--allow-non-loopback",
            help="Also accept a --host that is not loopback (an address of a network namespace a test made; "
            "the lab has no authentication).",
        ),
    ] = False,
) -> None:
    """Serve the Ollama API (native and /v1) until SIGINT/SIGTERM."""
    try:
        if not allow_non_loopback:
            check_loopback(host)
        chosen = build_profile(
            profile,
            config,
            time_scale=time_scale,
            keep_alive=keep_alive,
            num_parallel=num_parallel,
            max_loaded_models=max_loaded_models,
            max_queue=max_queue,
        )
        eng = make_engine(engine, chosen.time_scale, seed)
        if engine == "llama-cpp":
            chosen = _with_model_path(chosen, model_path)
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    import asyncio

    from tuner.lab.server import LabApp

    lab = LabApp(chosen, eng, seed=seed)

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


@app.command()
def profiles(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full profiles as JSON.")] = False,
) -> None:
    """List the built-in profiles."""
    if as_json:
        from tuner.jsonout import dumps

        typer.echo(dumps({n: p.to_dict() for n, p in PROFILES.items()}), nl=False)
        return
    for name, p in PROFILES.items():
        chat = p.models[0]
        rates = f"load {chat.load_seconds:g}s, prompt {chat.prompt_tokens_per_s:g} tok/s"
        rates += f", gen {chat.gen_tokens_per_s:g} tok/s"
        typer.echo(f"{name:8} {', '.join(m.name for m in p.models)} ({rates})")


def main() -> None:
    app(prog_name="chatchat-tune lab")


if __name__ == "__main__":
    main()
