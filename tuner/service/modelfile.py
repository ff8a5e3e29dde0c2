"""A derived model with its own parameters (``PARAMETER num_ctx 8192``) as files a user reviews and runs.

A /v1 caller such as Chatchat sends no ``num_ctx``: the context it gets is the model's own Modelfile
parameter (else ``OLLAMA_CONTEXT_LENGTH``, else Ollama's default). ``ollama create NAME -f Modelfile``
makes ``NAME`` from ``FROM <model>`` plus the parameters, leaving the original model as it was. Nothing here
runs anything; the text goes to stdout or to a folder the user names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tuner.service.artifact import Artifact

ModelParameters = Sequence[tuple[str, str, str]]  # (model, parameter, value)


def derived_name(model: str, params: Sequence[tuple[str, str]]) -> str:
    """``qwen2:7b`` with num_ctx 8192 → ``qwen2:7b-ctx8192`` (a tag of the same name)."""
    name, _, tag = model.rpartition(":") if ":" in model.rsplit("/", 1)[-1] else (model, "", "latest")
    suffix = "-".join(f"ctx{v}" if p == "num_ctx" else f"{p}{v}" for p, v in params)
    return f"{name}:{tag}-{suffix}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def modelfile_artifacts(models: ModelParameters) -> tuple[Artifact, ...]:
    by_model: dict[str, list[tuple[str, str]]] = {}
    for model, param, value in models:
        by_model.setdefault(model, []).append((param, value))
    out: list[Artifact] = []
    for model, params in sorted(by_model.items()):
        new = derived_name(model, params)
        filename = f"Modelfile.{_safe(new)}"
        text = (
            f"# A derived model: {model} with its own parameters. Create it with:\n"
            f"#   ollama create {new} -f {filename}\n"
            f"# then name {new} in Chatchat's model list for the Ollama platform.\n"
            f"FROM {model}\n" + "".join(f"PARAMETER {p} {v}\n" for p, v in params)
        )
        out.append(Artifact(filename, f"Modelfile for {new}", text, "any"))
        create = f"ollama create {new} -f {filename}"
        out.append(
            Artifact(
                f"ollama-create-{_safe(new)}.sh",
                f"create {new} (Linux, macOS)",
                f"#!/bin/sh\nset -e\n{create}\nollama show {new} --parameters\n",
                "posix",
            )
        )
        out.append(
            Artifact(
                f"ollama-create-{_safe(new)}.ps1",
                f"create {new} (Windows PowerShell)",
                f"{create}\r\nollama show {new} --parameters\r\n",
                "win32",
            )
        )
    return tuple(out)
