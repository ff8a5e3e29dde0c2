"""Secrets are never shown in full: unit rules, then every command's real output (text, JSON, diffs,
errors, files it saves), with the secrets in the settings files and in the environment."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner import redact
from tuner.redact import RedactingStream, mask, mask_url, secrets_in

KEY = "sk-live-1234567890abcdefSECRET"
PROXY_PASSWORD = "hunter2pass"
ENV_KEY = "envsecretvalue99"
URL_PASSWORD = "pw-secret-77"
SECRETS = (KEY, PROXY_PASSWORD, ENV_KEY, URL_PASSWORD)


@pytest.fixture(autouse=True)
def _clean_registry():  # type: ignore[no-untyped-def]
    redact.forget_all()
    yield
    redact.forget_all()


def test_mask_keeps_placeholders_and_a_hint_of_long_keys() -> None:
    assert mask("EMPTY") == "EMPTY" and mask("") == ""
    assert mask("abc12345") == "****"
    assert mask(KEY) == "sk-…CRET"
    assert mask_url("http://bob:pw@10.0.0.1:3128/x") == "http://bob:****@10.0.0.1:3128/x"
    assert mask_url("http://10.0.0.1:3128") == "http://10.0.0.1:3128"


def test_secrets_are_found_in_parsed_settings() -> None:
    data = {
        "MODEL_PLATFORMS": [
            {"platform_name": "a", "api_key": KEY, "api_proxy": f"http://u:{PROXY_PASSWORD}@h:1"},
            {"platform_name": "b", "api_key": "EMPTY"},
        ],
        "nested": {"SECRET_KEY": "abcdefgh"},
        "max_tokens": "4096",
    }
    assert set(secrets_in(data)) == {KEY, PROXY_PASSWORD, "abcdefgh"}


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"    api_key: {KEY}", KEY),
        (f'"api_key": "{ENV_KEY}"', ENV_KEY),
        (f"API_KEY={ENV_KEY}", ENV_KEY),
        (f"+    api_proxy: 'http://bob:{PROXY_PASSWORD}@10.0.0.5:3128'", PROXY_PASSWORD),
        (f"proxy from HTTPS_PROXY=http://u:{URL_PASSWORD}@proxy:8080", URL_PASSWORD),
        ("key sk-proj-abcdefghijklmnop in free text", "abcdefghijklmnop"),
    ],
)
def test_redact_masks_each_shape(text: str, hidden: str) -> None:
    assert hidden not in redact.redact(text)


def test_registered_secrets_are_masked_anywhere_and_ordinary_words_are_not() -> None:
    redact.register([ENV_KEY, "ab"])  # too short to hunt for in free text
    assert redact.redact(f"x{ENV_KEY}y ab") == "x****y ab"
    for plain in ('"first_token": 0.5', "max_tokens: 4096", "HTTPX_DEFAULT_TIMEOUT: 300.0"):
        assert redact.redact(plain) == plain


def test_the_stream_masks_a_secret_split_across_writes_and_never_fails_to_encode() -> None:
    redact.register([ENV_KEY])
    raw = io.BytesIO()
    inner = io.TextIOWrapper(raw, encoding="cp1252", errors="strict")
    stream = RedactingStream(inner)
    stream.write(f"key {ENV_KEY[:5]}")
    stream.write(f"{ENV_KEY[5:]} 中文 …\n")
    stream.flush()
    shown = raw.getvalue().decode("cp1252")
    assert ENV_KEY not in shown and "****" in shown and "??" in shown


# --- every command, for real ---------------------------------------------------------------------------


@pytest.fixture
def secret_root(install) -> Path:  # type: ignore[no-untyped-def]
    root: Path = install("chatchat-0.3.1")
    model = root / "model_settings.yaml"
    text = model.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s+)api_key: EMPTY$", rf"\1api_key: {KEY}", text)
    text = text.replace(
        "api_base_url: http://127.0.0.1:11434/v1",
        f"api_base_url: http://alice:{URL_PASSWORD}@127.0.0.1:9/v1",
        1,
    )
    model.write_text(text, encoding="utf-8")
    return root


ENV = {
    "MODEL_PLATFORMS": json.dumps([{"platform_name": "ollama", "api_key": ENV_KEY}]),
    "HTTPS_PROXY": f"http://carol:{PROXY_PASSWORD}@127.0.0.1:9",
}


def _assert_hidden(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:3000])


@pytest.mark.parametrize(
    "args",
    [
        ["inspect"],
        ["inspect", "--json"],
        ["apply", "--dry-run", "--set", f"proxy[ollama]=http://bob:{PROXY_PASSWORD}@10.0.0.5:3128"],
        ["apply", "--set", f"proxy[ollama]=http://bob:{PROXY_PASSWORD}@10.0.0.5:3128"],
        ["apply", "--set", f"ollama_url[nope]=http://u:{PROXY_PASSWORD}@127.0.0.1:1/v1"],  # an error
        ["doctor", "--budget", "2"],
        ["doctor", "--budget", "2", "--json"],
        ["bench", "-n", "2"],
        ["bench", "-n", "2", "--json"],
    ],
    ids=lambda a: " ".join(a)[:40],
)
def test_no_command_shows_a_secret(secret_root: Path, args: list[str]) -> None:
    run = run_cli(*args, "--root", str(secret_root), env=ENV)
    assert "Traceback" not in run.err
    _assert_hidden(run.out, run.err)
    if args[0] == "apply" and "--dry-run" not in args and run.code == 0:
        written = (secret_root / "model_settings.yaml").read_text(encoding="utf-8")
        assert PROXY_PASSWORD in written and KEY in written, "the file itself gets the real values"


def test_saved_outputs_are_masked(secret_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = run_cli("bench", "-n", "2", "--root", str(secret_root), "--json-out", str(out), env=ENV)
    assert "Traceback" not in run.err
    if out.exists():
        _assert_hidden(out.read_text(encoding="utf-8"))


def test_output_survives_a_narrow_console_encoding(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")  # its comments are Chinese
    for encoding in ("cp1252", "ascii"):
        run = run_cli(
            "apply",
            "--root",
            str(root),
            "--dry-run",
            "--set",
            "api_timeout=77",
            env={"PYTHONIOENCODING": encoding},
        )
        assert run.code == 2 and "Traceback" not in run.err, run.err
        assert "HTTPX_DEFAULT_TIMEOUT" in run.out
