"""Several users: --users (closed loop with idle gaps), --rate (Poisson), --traffic FILE; parsing and runs."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner.errors import UserError
from tuner.lab.process import LabProcess
from tuner.measure.runner import run
from tuner.measure.traffic import load_traffic, parse_traffic
from tuner.measure.users import arrival_for
from tuner.measure.workload import Arrival, ClientSettings, Workload

CHAT = {
    "size_bytes": 1,
    "size_vram": 0,
    "load_seconds": 0.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 100.0,  # 8 tokens: 80 ms at scale 1, 8 ms at 0.1
}
MODELS = [{"name": "qwen2:7b", **CHAT}, {"name": "qwen:7b", **CHAT}]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def lab() -> Iterator[LabProcess]:
    with LabProcess("tiny", time_scale=1.0, models=MODELS, num_parallel=4) as started:
        yield started


# --- parsing -------------------------------------------------------------------------------------------


def test_traffic_one_per_line_in_any_accepted_form(tmp_path: Path) -> None:
    text = "\ufeff# exported\n1700000010.5\n1700000010\n\n1700000012\n"
    assert parse_traffic(text, tmp_path / "t") == (0.0, 0.5, 2.0)
    iso = "2026-11-29T12:00:00Z\n2026-11-29T12:00:01.250+00:00\n"
    assert parse_traffic(iso, tmp_path / "t") == (0.0, 1.25)
    clf = "[29/Nov/2026:12:00:00 +0000]\n29/Nov/2026:12:00:03 +0000\n"
    assert parse_traffic(clf, tmp_path / "t") == (0.0, 3.0)


def test_traffic_csv_with_a_time_column(tmp_path: Path) -> None:
    text = "remote,Timestamp,status\n10.0.0.1,5.0,200\n10.0.0.2,2.0,200\n10.0.0.3,9.5,500\n"
    assert parse_traffic(text, tmp_path / "t.csv") == (0.0, 3.0, 7.5)
    semi = "time;path\n0;/chat\n1;/chat\n"
    assert parse_traffic(semi, tmp_path / "t.csv") == (0.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2\nsoon\n", "line 3: cannot read 'soon' as a time"),
        ("host,status\na,200\n", "line 1: no time column"),
        ("time,status\n1,200\n,200\nx\n", "line 3: no value in the time column"),
        ("# nothing\n\n", "no arrival times"),
        ("1\nnan\n", "line 2: cannot read 'nan'"),
    ],
)
def test_a_bad_traffic_file_names_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "traffic.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_traffic(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_traffic_file_problems(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such traffic file"):
        load_traffic(tmp_path / "missing.txt")
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("时间\n".encode("gbk"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_traffic(bad)


def test_arrival_options() -> None:
    common = {"mean_gap": None, "distribution": "exponential", "concurrency": 1, "requests": 100}
    arrival, workers = arrival_for(users=6, rate=None, traffic=None, **common)  # type: ignore[arg-type]
    assert arrival.kind == "users" and workers == 6
    arrival, workers = arrival_for(users=None, rate=2.0, traffic=None, **common)  # type: ignore[arg-type]
    assert arrival.kind == "rate" and workers == 64  # open loop: bounded in flight
    with pytest.raises(UserError, match="--users and --rate"):
        arrival_for(users=2, rate=2.0, traffic=None, **common)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"--users must be 1\.\.64"):
        arrival_for(users=0, rate=None, traffic=None, **common)  # type: ignore[arg-type]


def test_poisson_rate_is_seeded_and_has_the_rate() -> None:
    times = Arrival("rate", rate=4.0).schedule(4000, seed=3)
    assert times == Arrival("rate", rate=4.0).schedule(4000, seed=3)
    assert times != Arrival("rate", rate=4.0).schedule(4000, seed=4)
    assert times is not None
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(0.25, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.25, rel=0.1)  # exponential: sd = mean


def test_each_user_has_its_own_gaps() -> None:
    arrival = Arrival("users", mean_gap=10.0)
    assert arrival.user_gaps(0, 5, 0) != arrival.user_gaps(1, 5, 0)
    assert arrival.user_gaps(1, 5, 0) == arrival.user_gaps(1, 5, 0)


# --- runs against the lab ------------------------------------------------------------------------------


def test_users_run_concurrently_against_the_lab(lab: LabProcess) -> None:
    workload = Workload(
        model="qwen2:7b",
        requests=12,
        concurrency=4,
        arrival=Arrival("users", mean_gap=0.05),
        max_tokens=8,
    )
    result = run(lab.url, workload, ClientSettings(timeout=10.0))
    assert len(result.samples) == 12 and all(s.ok for s in result.samples)
    # the users overlap: some request starts while another is still in flight
    spans = sorted((s.start, s.start + s.total) for s in result.samples)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))


def test_traffic_replay_keeps_the_file_s_times(lab: LabProcess, tmp_path: Path) -> None:
    path = tmp_path / "gateway.csv"
    path.write_text("ts,path\n100.0,/chat\n100.3,/chat\n100.6,/chat\n", encoding="utf-8")
    arrival, workers = arrival_for(
        users=None,
        rate=None,
        traffic=path,
        mean_gap=None,
        distribution="exponential",
        concurrency=1,
        requests=3,
    )
    workload = Workload(model="qwen2:7b", requests=3, concurrency=workers, arrival=arrival, max_tokens=4)
    result = run(lab.url, workload, ClientSettings(timeout=10.0))
    starts = [s.start for s in result.samples]
    assert starts[1] == pytest.approx(0.3, abs=0.05) and starts[2] == pytest.approx(0.6, abs=0.05)


def test_bench_cli_takes_users_rate_and_traffic(lab: LabProcess, tmp_path: Path) -> None:
    base = ["bench", "--url", lab.url, "--model", "qwen2:7b", "-n", "6", "--max-tokens", "4", "--json"]
    ok = run_cli(*base, "--users", "3", "--idle-gap", "0.02")
    assert ok.code == 0, ok.err
    ok = run_cli(*base, "--rate", "50")
    assert ok.code == 0, ok.err
    bad = tmp_path / "t.txt"
    bad.write_text("0\n1\nlater\n", encoding="utf-8")
    refused = run_cli(*base, "--traffic", str(bad))
    assert refused.code == 1
    (line,) = refused.err.strip().splitlines()
    assert line.startswith(f"chatchat-tune: error: {bad}: line 3: cannot read 'later'")
    both = run_cli(*base, "--users", "2", "--rate", "3")
    assert both.code == 1 and "--users and --rate" in both.err
