"""Each 0.3.1.x release, through its own `chatchat init` and its own settings loader: `apply` changes exactly
the values it was asked to set, and `inspect --json` reads them back.

0.3.1.3 always runs (the suite installs its venv). The older releases run only when their venv is cached:
``python3 scripts/setup-chatchat --version 0.3.1`` (likewise 0.3.1.1, 0.3.1.2) makes one, a few minutes each.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chatchat_real as cr
import pytest

pytestmark = pytest.mark.chatchat

_SETUP = cr._SETUP  # scripts/setup-chatchat as a module: venv paths, pins, offline environment


@dataclass(frozen=True)
class Release:
    """What a release's `chatchat init` writes, read in its wheel's chatchat/settings.py."""

    version: str
    platforms: tuple[str, ...]  # MODEL_PLATFORMS platform_name, in order
    auto_detect: str  # the platform shipped with auto_detect_model: true
    api_proxy: bool  # PlatformConfig has api_proxy (0.3.1.1+)
    bind_host: str  # BasicSettings.DEFAULT_BIND_HOST off Windows (127.0.0.1 on Windows in all four)

    @property
    def shipped_bind_host(self) -> str:
        return "127.0.0.1" if sys.platform == "win32" else self.bind_host


RELEASES = (
    Release(
        "0.3.1",
        ("xinference-auto", "xinference", "ollama", "oneapi", "openai"),
        "xinference-auto",
        False,
        "127.0.0.1",
    ),
    Release(
        "0.3.1.1",
        ("xinference-auto", "xinference", "ollama", "oneapi", "openai"),
        "xinference-auto",
        True,
        "127.0.0.1",
    ),
    Release("0.3.1.2", ("xinference", "ollama", "oneapi", "openai"), "xinference", True, "0.0.0.0"),
    Release("0.3.1.3", ("xinference", "ollama", "oneapi", "openai"), "xinference", True, "0.0.0.0"),
)

NEW_TIMEOUT = 123.0
NEW_URL = "http://127.0.0.1:11435/v1"
NEW_PROXY = "http://127.0.0.1:3128"  # loopback; nothing is started, the value is only loaded
NEW_BIND = "127.0.0.1"


def test_releases_cover_every_version_setup_installs() -> None:
    assert tuple(r.version for r in RELEASES) == tuple(_SETUP.VERSIONS)


# --- the release's venv, init and loader -------------------------------------------------------------------


def _cached_venv(version: str) -> Path | None:
    """The version's venv if setup-chatchat finished it (its marker matches), else None. Installs nothing."""
    root = Path(_SETUP.cache_dir(version))
    venv = root / "venv"
    try:
        marker = json.loads((root / _SETUP.MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != _SETUP.MARKER_FORMAT:
        return None
    if marker.get("requirements") != list(_SETUP.requirements(version)):
        return None
    return venv if cr.venv_python(venv).is_file() else None


@pytest.fixture
def release_venv(release: Release, request: pytest.FixtureRequest) -> Path:
    """The release's venv: 0.3.1.3's is made on first use; an older one is used only when cached."""
    if release.version == cr.CHATCHAT_VERSION:  # the suite's own venv: made on first use, CI always has it
        venv: Path = request.getfixturevalue("chatchat_venv")
        return venv
    found = _cached_venv(release.version)
    if found is None:
        pytest.skip(
            f"no cached Chatchat {release.version} venv; make it with "
            f"`python3 scripts/setup-chatchat --version {release.version}` (a few minutes)"
        )
    return found


@functools.cache
def _no_network() -> tuple[str, ...]:
    """`unshare -rn` where unprivileged network namespaces work (Linux): the child has no network at all."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def chatchat_init(venv: Path, root: Path) -> None:
    """The release's own `chatchat init` (no KB rebuild), offline: no proxies, no network where possible."""
    root.mkdir(parents=True)
    proc = subprocess.run(
        [*_no_network(), str(cr.chatchat_exe(venv)), "init"],
        env=cr.offline_env(root),
        cwd=str(root),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=240,
        check=False,
    )
    if proc.returncode != 0 or not all((root / name).is_file() for name in cr.SETTINGS_FILES):
        raise AssertionError(
            f"chatchat init failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )


# Every 0.3.1.x exposes the five groups as properties of chatchat.settings.Settings (a SettingsContainer)
# whose values are pydantic-settings models reloaded from the YAML files; the same calls work in all four.
_LOADER = f"""
import json, sys
from importlib.metadata import version
from chatchat.settings import Settings
out = {{"version": version("langchain-chatchat")}}
for name in {cr.SETTINGS_GROUPS!r}:
    out[name] = getattr(Settings, name).model_dump(mode="json")
sys.stdout.write("\\n@@SETTINGS@@" + json.dumps(out, sort_keys=True, ensure_ascii=False) + "\\n")
"""


def load_settings(venv: Path, root: Path, version: str) -> dict[str, Any]:
    """Every settings group as the release's own loader sees it (run by its venv's python), as JSON data."""
    proc = subprocess.run(
        [*_no_network(), str(cr.venv_python(venv)), "-c", _LOADER],
        env=cr.offline_env(root),
        cwd=str(root),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=180,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@SETTINGS@@"):
            data: dict[str, Any] = json.loads(line[len("@@SETTINGS@@") :])
            assert data.pop("version") == version, "the venv holds another Chatchat release"
            return data
    raise AssertionError(
        f"loading Chatchat {version} settings failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    )


# --- what must change --------------------------------------------------------------------------------------


def sets_for(release: Release) -> list[str]:
    sets = [
        f"api_timeout={NEW_TIMEOUT:g}",
        f"ollama_url[ollama]={NEW_URL}",
        f"bind_host={NEW_BIND}",
        f"auto_detect_model[{release.auto_detect}]=false",
    ]
    if release.api_proxy:
        sets.append(f"proxy[ollama]={NEW_PROXY}")
    return sets


def platform(settings: dict[str, Any], name: str) -> dict[str, Any]:
    entries = [p for p in settings["model_settings"]["MODEL_PLATFORMS"] if p["platform_name"] == name]
    assert len(entries) == 1, f"expected one platform {name!r}"
    found: dict[str, Any] = entries[0]
    return found


def expected_after(before: dict[str, Any], release: Release) -> dict[str, Any]:
    """The settings as they must load after the apply: the values set, everything else as before."""
    after = copy.deepcopy(before)
    after["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] = NEW_TIMEOUT
    after["basic_settings"]["DEFAULT_BIND_HOST"] = NEW_BIND
    for server in ("API_SERVER", "WEBUI_SERVER"):  # where the servers really listen
        after["basic_settings"][server]["host"] = NEW_BIND
    platform(after, "ollama")["api_base_url"] = NEW_URL
    platform(after, release.auto_detect)["auto_detect_model"] = False
    if release.api_proxy:
        platform(after, "ollama")["api_proxy"] = NEW_PROXY
    return after


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path; list items that are platforms are named by platform_name (readable diffs)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return out or {path: {}}
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            name = item.get("platform_name") if isinstance(item, dict) else None
            out.update(flatten(item, f"{path}[{name if name is not None else i}]"))
        return out or {path: []}
    return {path: value}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    flat_before, flat_after = flatten(before), flatten(after)
    return {
        p: (flat_before.get(p, "<absent>"), flat_after.get(p, "<absent>"))
        for p in sorted(set(flat_before) | set(flat_after))
        if flat_before.get(p, "<absent>") != flat_after.get(p, "<absent>")
    }


def expected_changes(release: Release) -> set[str]:
    paths = {
        "basic_settings.HTTPX_DEFAULT_TIMEOUT",
        "model_settings.MODEL_PLATFORMS[ollama].api_base_url",
        f"model_settings.MODEL_PLATFORMS[{release.auto_detect}].auto_detect_model",
    }
    if release.shipped_bind_host != NEW_BIND:  # 0.3.1 and 0.3.1.1 already ship 127.0.0.1
        # bind_host is written where the servers listen too (init writes their hosts explicitly)
        paths |= {
            "basic_settings.DEFAULT_BIND_HOST",
            "basic_settings.API_SERVER.host",
            "basic_settings.WEBUI_SERVER.host",
        }
    if release.api_proxy:
        paths.add("model_settings.MODEL_PLATFORMS[ollama].api_proxy")
    return paths


def knob_values(report: dict[str, Any], knob: str) -> dict[str | None, Any]:
    entries = [k for k in report["knobs"] if k["name"] == knob]
    assert len(entries) == 1, f"inspect reports no single knob {knob!r}"
    return {v["entry"]: v["value"] for v in entries[0]["values"]}


# --- the test ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(900)
@pytest.mark.parametrize("release", RELEASES, ids=[r.version for r in RELEASES])
def test_apply_changes_exactly_the_values_set_as_each_release_loads_them(
    release: Release, release_venv: Path, tmp_path: Path
) -> None:
    root = tmp_path / "chatchat-root"
    chatchat_init(release_venv, root)

    # The fresh init, as this release's loader sees it: the facts this test relies on.
    before = load_settings(release_venv, root, release.version)
    assert set(before) == set(cr.SETTINGS_GROUPS)
    names = tuple(p["platform_name"] for p in before["model_settings"]["MODEL_PLATFORMS"])
    assert names == release.platforms
    assert [
        p["platform_name"] for p in before["model_settings"]["MODEL_PLATFORMS"] if p["auto_detect_model"]
    ] == [release.auto_detect]
    assert before["basic_settings"]["HTTPX_DEFAULT_TIMEOUT"] == 300.0
    assert before["basic_settings"]["DEFAULT_BIND_HOST"] == release.shipped_bind_host
    ollama = platform(before, "ollama")
    assert ollama["api_base_url"] == "http://127.0.0.1:11434/v1"
    assert ("api_proxy" in ollama) is release.api_proxy
    if release.api_proxy:
        assert ollama["api_proxy"] == ""
    files_before = {name: (root / name).read_bytes() for name in cr.SETTINGS_FILES}

    args = ["apply", "--root", str(root)]
    for s in sets_for(release):
        args += ["--set", s]
    applied = cr.run_tuner(*args)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    after = load_settings(release_venv, root, release.version)
    assert set(changed_paths(before, after)) == expected_changes(release), changed_paths(before, after)
    assert after == expected_after(before, release)
    changed_files = {name for name in cr.SETTINGS_FILES if (root / name).read_bytes() != files_before[name]}
    assert changed_files == {"basic_settings.yaml", "model_settings.yaml"}

    again = cr.run_tuner(*args, "--dry-run")  # nothing left to do
    assert again.returncode == 0, again.stdout + again.stderr

    shown = cr.run_tuner("inspect", "--root", str(root), "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert report["generation"] == "0.3.1"
    assert report["label"].startswith("Chatchat 0.3.1") and "_settings.yaml" in report["label"], report[
        "label"
    ]
    assert knob_values(report, "ollama_url")["ollama"] == NEW_URL
    assert knob_values(report, "api_timeout")[None] == NEW_TIMEOUT
    assert knob_values(report, "bind_host")[None] == NEW_BIND
    assert knob_values(report, "auto_detect_model")[release.auto_detect] is False
    if release.api_proxy:
        assert knob_values(report, "proxy")["ollama"] == NEW_PROXY
