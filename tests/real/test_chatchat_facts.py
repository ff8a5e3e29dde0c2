"""Facts about real Chatchat 0.3.1.3 that the tuner relies on, checked against the installed package."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import chatchat_real as cr
import pytest

pytestmark = pytest.mark.chatchat


def timeout_of(settings: dict[str, Any]) -> object:
    return settings["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"]


def test_copied_root_is_byte_identical_to_a_fresh_init(
    chatchat_venv: Path, chatchat_root: Path, tmp_path: Path
) -> None:
    # Same-length paths fold the same way; long enough that ruamel folds the absolute paths.
    fresh = cr.init_root(chatchat_venv, tmp_path / ("f" * 40))
    copied = cr.copy_root(chatchat_root, tmp_path / ("c" * 40))
    basic = (fresh / "basic_settings.yaml").read_text(encoding="utf-8")
    assert f"\nKB_ROOT_PATH: \n  {fresh}/data/knowledge_base\n" in basic  # folded, trailing space kept
    for name in cr.SETTINGS_FILES:
        expected = (fresh / name).read_text(encoding="utf-8").replace(str(fresh), str(copied))
        assert (copied / name).read_text(encoding="utf-8") == expected, name
    cmp = filecmp.dircmp(fresh / "data" / "knowledge_base", copied / "data" / "knowledge_base")
    assert cmp.left_only == [] and cmp.right_only == []


def test_init_writes_the_five_files_with_the_documented_defaults(chatchat_root: Path) -> None:
    for name in cr.SETTINGS_FILES:
        assert (chatchat_root / name).is_file()
    basic = (chatchat_root / "basic_settings.yaml").read_text(encoding="utf-8")
    assert "\nHTTPX_DEFAULT_TIMEOUT: 300.0\n" in basic
    assert "\nAPI_SERVER:\n  host: 0.0.0.0\n  port: 7861\n" in basic
    models = (chatchat_root / "model_settings.yaml").read_text(encoding="utf-8")
    assert "\nMODEL_PLATFORMS:\n  - platform_name: xinference\n" in models
    assert "    auto_detect_model: true\n" in models
    # A fully commented-out template platform sits just above MODEL_PLATFORMS.
    above = models.split("\nMODEL_PLATFORMS:")[0].splitlines()
    assert any(line.startswith("# platform_type:") for line in above)


def test_environment_overrides_the_yaml(chatchat_venv: Path, chatchat_root: Path) -> None:
    def load(env: dict[str, str]) -> dict[str, Any]:
        return cr.load_settings(chatchat_venv, chatchat_root, env)

    # Field name as the variable name, any case, no prefix; no nested delimiter.
    assert timeout_of(load({"HTTPX_DEFAULT_TIMEOUT": "12"})) == 12.0
    assert timeout_of(load({"httpx_default_timeout": "13"})) == 13.0
    assert timeout_of(load({"CHATCHAT_HTTPX_DEFAULT_TIMEOUT": "15"})) == 300.0
    assert load({"API_SERVER__PORT": "9998"})["basic_settings"]["API_SERVER"]["port"] == 7861

    # Dicts are JSON and deep-merged into the YAML's dict, at every level.
    merged = load({"API_SERVER": '{"port": 9999}', "LLM_MODEL_CONFIG": '{"llm_model": {"temperature": 0.1}}'})
    assert merged["basic_settings"]["API_SERVER"] == {
        "host": "0.0.0.0",
        "port": 9999,
        "public_host": "127.0.0.1",
        "public_port": 7861,
    }
    llm = merged["model_settings"]["LLM_MODEL_CONFIG"]["llm_model"]
    assert llm["temperature"] == 0.1 and llm["max_tokens"] == 4096

    # Lists are replaced whole; each platform entry is completed from PlatformConfig's defaults.
    platforms = load({"model_platforms": '[{"platform_name": "x", "platform_type": "ollama"}]'})
    (only,) = platforms["model_settings"]["MODEL_PLATFORMS"]
    assert only["platform_name"] == "x"
    assert only["api_base_url"] == "http://127.0.0.1:9997/v1"
    assert only["api_concurrencies"] == 5 and only["auto_detect_model"] is False


def test_bad_environment_values_break_the_loader(chatchat_venv: Path, chatchat_root: Path) -> None:
    with pytest.raises(RuntimeError, match='error parsing value for field "API_SERVER"'):
        cr.load_settings(chatchat_venv, chatchat_root, {"API_SERVER": "not json"})
    with pytest.raises(RuntimeError, match="platform_type"):
        cr.load_settings(
            chatchat_venv,
            chatchat_root,
            {"MODEL_PLATFORMS": '[{"platform_name": "x", "platform_type": "bogus"}]'},
        )


def test_dotenv_file_in_the_root_is_not_read(chatchat_venv: Path, chatchat_root: Path) -> None:
    (chatchat_root / ".env").write_text("HTTPX_DEFAULT_TIMEOUT=11\n", encoding="utf-8")
    assert timeout_of(cr.load_settings(chatchat_venv, chatchat_root)) == 300.0


def test_loopback_platforms_leaves_only_loopback(chatchat_venv: Path, chatchat_root: Path) -> None:
    with pytest.raises(RuntimeError, match="not loopback-only"):
        cr.assert_loopback_only(chatchat_root)  # the shipped defaults include the public OpenAI endpoint
    cr.loopback_platforms(chatchat_root, "http://127.0.0.1:11555/v1", llm_models=("tiny",), api_port=17861)
    settings = cr.load_settings(chatchat_venv, chatchat_root)
    (only,) = settings["model_settings"]["MODEL_PLATFORMS"]
    assert only["platform_type"] == "ollama"
    assert only["api_base_url"] == "http://127.0.0.1:11555/v1"
    assert only["auto_detect_model"] is False
    assert only["llm_models"] == ["tiny"]
    assert settings["model_settings"]["DEFAULT_LLM_MODEL"] == "tiny"
    basic = settings["basic_settings"]
    assert basic["DEFAULT_BIND_HOST"] == "127.0.0.1"
    assert basic["API_SERVER"]["host"] == "127.0.0.1" and basic["API_SERVER"]["port"] == 17861
    assert basic["WEBUI_SERVER"]["host"] == "127.0.0.1"
    cr.assert_loopback_only(chatchat_root)


def test_webui_http_client_builds_with_the_pinned_httpx(chatchat_venv: Path, chatchat_root: Path) -> None:
    # get_httpx_client (the WebUI's client to the API) always passes `proxies=`: httpx >= 0.28 refuses it.
    code = (
        "import httpx\n"
        "from chatchat.server.utils import get_httpx_client\n"
        "get_httpx_client().close()\n"
        "print('httpx', httpx.__version__)\n"
    )
    proc = cr.run_python(chatchat_venv, chatchat_root, code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "httpx 0.27." in proc.stdout
