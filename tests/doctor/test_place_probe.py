"""The probe that runs where Chatchat runs: standard library only, bounded, one JSON object; the prefix
split as the user's shell would; the cause and fix chosen from what each side saw."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.doctor.conftest import copy_install, dead_port, doctor, point
from tuner.doctor import placeprobe
from tuner.doctor.model import InstallFacts, ProbeFacts, Reach
from tuner.doctor.place import (
    PlaceFacts,
    Reached,
    Side,
    port_state,
    probe_source,
    remote_command,
    split_prefix,
)
from tuner.doctor.place_rules import unreachable
from tuner.plan.settings import parse_setting


def test_the_probe_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(placeprobe.__file__).read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules


def test_the_probe_runs_isolated_and_answers(tmp_path: Path, lab: Any) -> None:
    server = lab()
    config = {
        "targets": [
            {"url": server.url, "path": "/api/version"},
            {"url": f"http://127.0.0.1:{dead_port()}", "path": "/v1/models"},
        ],
        "names": [],
        "alternates": False,
        "deadline_s": 2.0,
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe_source(), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,  # nothing of tuner importable from here, and -I -S: no site-packages either
    )
    report = json.loads(proc.stdout)
    assert report["schema_version"] == 1 and proc.returncode == 0
    up, down = report["targets"]
    assert up["status"] == 200 and '"version"' in up["body"] and up["connect_s"] >= 0
    assert down["status"] is None and down["error"] == "refused"
    assert set(report["where"]) >= {"dockerenv", "containerenv", "cgroup_engine", "wsl", "kernel"}


def test_a_bad_configuration_is_one_json_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", probe_source(), "not json"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"] == "bad configuration"


@pytest.mark.parametrize(
    ("prefix", "windows", "words"),
    [
        ("docker exec chatchat", False, ["docker", "exec", "chatchat"]),
        ("wsl -d Ubuntu --", False, ["wsl", "-d", "Ubuntu", "--"]),
        ("ip netns exec 'my ns'", False, ["ip", "netns", "exec", "my ns"]),
        ('wsl -d "Ubuntu 22.04" --', True, ["wsl", "-d", "Ubuntu 22.04", "--"]),
        (
            r'"C:\Program Files\Docker\docker.exe" exec cc',
            True,
            [r"C:\Program Files\Docker\docker.exe", "exec", "cc"],
        ),
    ],
)
def test_prefix_split_as_the_shell_would(prefix: str, windows: bool, words: list[str]) -> None:
    assert split_prefix(prefix, windows=windows) == words


def test_unbalanced_prefix_is_one_line_error(tmp_path: Path) -> None:
    run = run_cli("doctor", "--root", str(copy_install(tmp_path)), "--exec", "docker exec 'cc")
    assert run.code == 1 and "--exec" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_a_prefix_that_cannot_run_is_a_finding_not_a_crash(tmp_path: Path, lab: Any) -> None:
    server = lab()
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{server.port}/v1")
    _, report, _ = doctor(root, "--exec", "chatchat-tune-no-such-program-here")
    found = [f for f in report["findings"] if f["code"] == "place_probe_failed"]
    assert found and "no such program" in found[0]["evidence"][0]
    assert "unreachable_from_chatchat" not in [f["code"] for f in report["findings"]]


def test_python_alone_probes_from_that_interpreter(tmp_path: Path, lab: Any) -> None:
    server = lab()
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{server.port}/v1")
    _, report, _ = doctor(root, "--python", sys.executable)
    place = report["probe"]["place"]
    assert place["remote"]["targets"][0]["status"] == 200 and place["error"] is None
    assert "unreachable_from_chatchat" not in [f["code"] for f in report["findings"]]


def test_port_state_tells_a_held_port_from_a_free_one() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert port_state("127.0.0.1", s.getsockname()[1]) == "in_use"
    assert port_state("127.0.0.1", dead_port()) == "free"
    assert port_state("10.1.2.3", 11434) == "unknown"  # only this machine's loopback is tried


# -- the cause and fix, from what each side saw (pure) ------------------------------------------------------

FACTS = InstallFacts(
    label="Chatchat 0.3.1+",
    entry="ollama",
    ollama_url="http://127.0.0.1:11434/v1",
    ollama_root="http://127.0.0.1:11434",
    model="qwen2:7b",
    chatchat_api=None,
    timeout=300.0,
    timeout_source="basic_settings.yaml HTTPX_DEFAULT_TIMEOUT",
    timeout_bounds_model_call=False,
    code_patched=None,
    api_concurrencies=5,
)
HERE = Side(
    targets=(
        Reached(
            url=FACTS.ollama_root or "", host="127.0.0.1", port=11434, status=200, error=None, seconds=0.001
        ),
    )
)


def _there(*alternates: Reached, **side: Any) -> PlaceFacts:
    target = Reached(
        url="http://127.0.0.1:11434",
        host="127.0.0.1",
        port=11434,
        status=None,
        error="refused",
        seconds=0.0,
        alternates=alternates,
    )
    return PlaceFacts(how="docker exec cc", host=HERE, remote=Side(targets=(target,), **side), seconds=0.3)


def _findings(place: PlaceFacts) -> list[Any]:
    return unreachable(FACTS, ProbeFacts(budget=8.0, elapsed=1.0, reach=Reach("ok", 0.001), place=place))


def _alt(host: str, via: str, status: int | None, error: str | None) -> Reached:
    return Reached(
        url=f"http://{host}:11434", host=host, port=11434, status=status, error=error, seconds=0.001, via=via
    )


def test_an_address_that_answers_is_the_fix() -> None:
    [found] = _findings(_there(_alt("172.17.0.1", "gateway", 200, None), container="docker"))
    assert [f.setting for f in found.fixes] == ["ollama_url[ollama]=http://172.17.0.1:11434/v1"]


def test_loopback_only_in_docker_without_host_docker_internal() -> None:
    [found] = _findings(
        _there(
            _alt("172.17.0.1", "gateway", None, "refused"),
            container="docker",
            names=(("host.docker.internal", ()),),
        )
    )
    settings = [f.setting for f in found.fixes]
    assert settings[:2] == ["ollama_host=0.0.0.0", "ollama_url[ollama]=http://172.17.0.1:11434/v1"]
    assert "--add-host=host.docker.internal:host-gateway" in found.fixes[2].text
    assert all(parse_setting(s) for s in settings if s)  # every fix is a setting apply takes
    assert "in a container (docker" in found.evidence[1]


def test_loopback_only_from_wsl_names_mirrored_networking_and_netsh() -> None:
    [found] = _findings(_there(_alt("172.28.0.1", "nameserver", None, "refused"), wsl=True))
    texts = " ".join(f.text for f in found.fixes)
    assert "networkingMode=mirrored" in texts
    assert "netsh interface ipv4 show excludedportrange protocol=tcp" in texts
    assert "in WSL" in found.evidence[1]


def test_nothing_answers_from_there_names_the_firewall() -> None:
    [found] = _findings(_there(_alt("172.17.0.1", "gateway", None, "timeout")))
    assert "firewall" in found.fixes[0].text and "172.17.0.1 (gateway): timeout" in found.evidence[2]


def test_the_remote_command_survives_a_shell_that_re_splits_it(tmp_path: Path, lab: Any) -> None:
    """``wsl ... --`` hands the command line to a shell: the bootstrap and base64 words come through."""
    server = lab()
    config = {"targets": [{"url": server.url, "path": "/api/version"}], "names": [], "alternates": False}
    argv = remote_command([], sys.executable, config)
    line = " ".join([*argv[:2], f'"{argv[2]}"', *argv[3:]])  # a shell line, the bootstrap double-quoted
    proc = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert json.loads(proc.stdout)["targets"][0]["status"] == 200, proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell prefix")
def test_a_prefix_that_hangs_is_stopped_with_what_it_started(tmp_path: Path, lab: Any) -> None:
    server = lab()
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{server.port}/v1")
    marker = "31.4159"
    _, report, _ = doctor(root, "--exec", f"sh -c 'sleep {marker}' sh")
    found = [f for f in report["findings"] if f["code"] == "place_probe_failed"]
    assert found and "no report in" in found[0]["evidence"][0]
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert f"sleep {marker}" not in left  # the prefix's session was killed, not only the prefix


def test_targets_put_the_ollama_entry_first_and_skip_public_services(install) -> None:  # type: ignore[no-untyped-def]
    from tuner.doctor.place import targets
    from tuner.install.loading import open_install

    loaded = open_install(install("chatchat-0.3.1"))
    found = targets(loaded.entries, "ollama")
    assert [(t.name, t.path) for t in found] == [
        ("ollama", "/api/version"),
        ("xinference", "/v1/models"),
        ("oneapi", "/v1/models"),
    ]  # not the public OpenAI endpoint
    assert found[0].configured == "http://127.0.0.1:11434/v1"


def test_another_entry_gets_its_own_fix_not_ollama_host() -> None:
    from dataclasses import replace

    from tuner.doctor.place import Target

    place = _there(_alt("172.17.0.1", "gateway", None, "refused"), container="docker")
    probed = (Target("oneapi", "http://127.0.0.1:3000", "/v1/models", "http://127.0.0.1:3000/v1"),)
    [found] = _findings(replace(place, targets=probed))
    settings = [f.setting for f in found.fixes]
    assert not any(s and s.startswith("ollama_host") for s in settings)
    assert "oneapi listens on 127.0.0.1 only" in found.evidence[2]
    assert "ollama_url[oneapi]=http://172.17.0.1:3000/v1" in settings
