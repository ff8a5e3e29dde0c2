"""`chatchat-tune inspect`: what install this is, what its settings say, and what takes effect."""

from __future__ import annotations

from tuner.cli.options import JsonOpt, PythonOpt, RootOpt, WideOpt


def inspect(
    root: RootOpt = None, as_json: JsonOpt = False, python: PythonOpt = None, wide: WideOpt = False
) -> int:
    """What install this is, what its settings say (file:line), and which settings take effect."""
    from tuner.cli import render
    from tuner.install.loading import open_install
    from tuner.knobs.report import inspect_install

    render.inspect(inspect_install(open_install(root, python)), as_json=as_json, wide=wide)
    return 0
