"""Values are shown in the user's own file syntax."""

from __future__ import annotations

import pytest

from tuner.cli.render import in_file_syntax


@pytest.mark.parametrize(
    ("value", "file", "shown"),
    [
        (True, "model_settings.yaml", "true"),
        (None, "model_settings.yaml", "null"),
        ("http://127.0.0.1:11434/v1", "model_settings.yaml", "http://127.0.0.1:11434/v1"),
        ("", "model_settings.yaml", '""'),
        ("yes", "model_settings.yaml", '"yes"'),
        ("知识库", "kb_settings.yaml", "知识库"),
        (300.0, "basic_settings.yaml", "300.0"),
        (True, "configs/server_config.py", "True"),
        ("x", "configs/model_config.py", "'x'"),
        (None, "workspace_config.json", "null"),
    ],
)
def test_values_in_the_files_own_syntax(value: object, file: str, shown: str) -> None:
    assert in_file_syntax(value, file) == shown
