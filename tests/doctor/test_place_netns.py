"""Where Chatchat runs, across a real network boundary: the probe runs in a network namespace the test
makes (a veth pair to this one), the lab on this side. Needs root and ``ip``; skipped with the reason
otherwise. Traffic stays inside the machine: the namespace's loopback, the veth pair, and the namespace's
own resolv.conf pointing at the veth address (``ip netns exec`` mounts /etc/netns/NS/resolv.conf).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.doctor.conftest import codes, copy_install, dead_port, doctor, point


@dataclass(frozen=True)
class Netns:
    name: str
    host_address: str  # this side of the veth pair
    ns_address: str

    @property
    def exec(self) -> str:
        return f"ip netns exec {self.name}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[Netns]:
    if shutil.which("ip") is None:
        pytest.skip("no 'ip' command (iproute2) here")
    if os.geteuid() != 0:
        pytest.skip("making a network namespace with a veth pair needs root (CI runs these tests as root)")
    tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
    name, vh, vn = f"cctune-{tag}", f"cvh{tag}", f"cvn{tag}"
    octet = random.randrange(1, 250)
    host, inside = f"10.254.{octet}.1", f"10.254.{octet}.2"
    etc = Path("/etc/netns") / name
    try:
        _ip("netns", "add", name)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot make a network namespace here: {exc}")
    try:
        _ip("link", "add", vh, "type", "veth", "peer", "name", vn)
        _ip("link", "set", vn, "netns", name)
        _ip("addr", "add", f"{host}/30", "dev", vh)
        _ip("link", "set", vh, "up")
        for cmd in (
            ("addr", "add", f"{inside}/30", "dev", vn),
            ("link", "set", vn, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", host),
        ):
            _ip("netns", "exec", name, "ip", *cmd)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {host}\n", encoding="utf-8")
        (etc / "hosts").write_text("127.0.0.1 localhost\n", encoding="utf-8")
        yield Netns(name, host, inside)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)
        subprocess.run(["ip", "link", "del", vh], capture_output=True, timeout=10, check=False)
        shutil.rmtree(etc, ignore_errors=True)


def _finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["code"] == code]
    assert found, f"no {code} in {codes(report)}"
    return found[0]


def test_lab_bound_to_loopback_is_unreachable_from_the_namespace(
    tmp_path: Path, lab: Any, netns: Netns
) -> None:
    server = lab()  # 127.0.0.1 only, as Ollama by default
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{server.port}/v1")
    code, report, _ = doctor(root, "--exec", netns.exec)
    assert code == 3
    found = _finding(report, "unreachable_from_chatchat")
    assert found["severity"] == "error"
    text = "\n".join(found["evidence"])
    assert "listens on 127.0.0.1 only" in text and netns.host_address in text and "refused" in text
    settings = [fix["setting"] for fix in found["fixes"]]
    assert f"ollama_host=0.0.0.0:{server.port}" in settings
    assert f"ollama_url[ollama]=http://{netns.host_address}:{server.port}/v1" in settings
    assert "ollama_down" not in codes(report)  # it answers here: not down
    place = report["probe"]["place"]
    assert (
        place["remote"]["targets"][0]["error"] == "refused" and place["host"]["targets"][0]["status"] == 200
    )
    assert report["probe"]["elapsed_s"] <= report["probe"]["budget_s"]


def test_lab_bound_to_the_veth_address_is_reachable(tmp_path: Path, lab: Any, netns: Netns) -> None:
    server = lab(host=netns.host_address, allow_non_loopback=True)
    root = copy_install(tmp_path)
    point(root, f"http://{netns.host_address}:{server.port}/v1")
    _, report, _ = doctor(root, "--exec", netns.exec)
    assert not {"unreachable_from_chatchat", "place_probe_failed", "ollama_down"} & set(codes(report))
    remote = report["probe"]["place"]["remote"]
    assert remote["targets"][0]["status"] == 200 and remote["targets"][0]["connect_ms"] is not None
    assert remote["gateway"] == netns.host_address


def test_nothing_answers_from_either_side(tmp_path: Path, netns: Netns) -> None:
    root = copy_install(tmp_path)
    port = dead_port()
    point(root, f"http://127.0.0.1:{port}/v1")
    code, report, _ = doctor(root, "--exec", netns.exec)
    assert code == 3
    down = _finding(report, "ollama_down")
    assert "from where Chatchat runs" in down["title"]
    assert any("refused" in line for line in down["evidence"])
    assert report["probe"]["port_state"] == "free"  # nothing holds the port here: Ollama is not running
    assert "unreachable_from_chatchat" not in codes(report)
