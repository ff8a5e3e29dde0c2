"""The one build step pyproject.toml cannot declare: compile the message catalogs (``.po`` -> ``.mo``).

Runs for a wheel, a normal ``pip install .`` and an editable ``pip install -e .`` alike (``build_py`` runs in
each). The ``.mo`` is written beside its ``.po`` in the source tree (git ignores it), so an editable install
finds it where the package is imported from, and a wheel picks it up as package data. Babel is a build
requirement; without it (``--no-build-isolation`` in an environment that lacks it) the step says so and the
tool shows English, or compiles the ``.po`` at run time when Babel is installed later (``tuner.i18n``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        self.compile_catalogs()
        super().run()

    def compile_catalogs(self) -> None:
        spec = importlib.util.spec_from_file_location("_catalog", HERE / "tuner" / "i18n_catalog.py")
        assert spec is not None and spec.loader is not None
        catalog = importlib.util.module_from_spec(spec)
        sys.modules["_catalog"] = catalog  # dataclasses look their module up while the class is built
        spec.loader.exec_module(catalog)
        try:
            for mo in catalog.compile_all():
                print(f"compiled {mo.relative_to(HERE)}")
        except RuntimeError as err:
            print(f"warning: {err}; messages stay English", file=sys.stderr)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
