"""devbox.model.stats: CPU % from two samples, memory without page cache, /proc net/dev,
and the cells of the table."""

from __future__ import annotations

from typing import Any

from devbox.model import stats

NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:  500 5 0 0 0 0 0 0  500 5 0 0 0 0 0 0\n"
    "  lan0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
    "  eth1:   24 1 0 0 0 0 0 0    6 1 0 0 0 0 0 0\n"
)


def engine_sample(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000_000, "percpu_usage": [1, 2]},
            "system_cpu_usage": 12_000_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 2_000_000_000},
            "system_cpu_usage": 10_000_000_000,
        },
        "memory_stats": {
            "usage": 300 << 20,
            "limit": 512 << 20,
            "stats": {"total_inactive_file": 100 << 20, "cache": 150 << 20},
        },
        "pids_stats": {"current": 7, "limit": 4096},
    }
    raw.update(over)
    return raw


def test_cpu_percent_is_the_containers_share_of_the_host_times_its_cpus() -> None:
    # 1 s of CPU in 2 s of host time (both CPUs counted) on 2 CPUs: one CPU busy
    assert stats.cpu_percent(3_000, 2_000, 12_000, 10_000, 2) == 100.0
    assert stats.cpu_percent(2_250, 2_000, 12_000, 10_000, 2) == 25.0


def test_cpu_percent_is_unknown_without_an_interval_or_cpus() -> None:
    assert stats.cpu_percent(3_000, 0, 10_000, 10_000, 2) is None  # no host time passed
    assert stats.cpu_percent(3_000, 2_000, 12_000, 10_000, 0) is None
    assert stats.cpu_percent(1_000, 2_000, 12_000, 10_000, 2) is None  # a reset counter


def test_memory_used_leaves_out_the_inactive_page_cache() -> None:
    assert stats.memory_used({"usage": 300, "stats": {"total_inactive_file": 100}}) == 200
    assert stats.memory_used({"usage": 300, "stats": {"inactive_file": 50}}) == 250  # cgroup v2
    assert stats.memory_used({"usage": 300, "stats": {"inactive_file": 400}}) == 300
    assert stats.memory_used({}) is None


def test_from_engine() -> None:
    usage = stats.from_engine(engine_sample())
    assert usage.cpu_percent == 100.0
    assert usage.memory_used == 200 << 20
    assert usage.memory_limit == 512 << 20
    assert usage.pids == 7
    assert usage.net_rx is None and usage.net_tx is None


def test_from_engine_of_a_first_sample_or_a_stopped_container() -> None:
    usage = stats.from_engine(engine_sample(precpu_stats={}))
    assert usage.cpu_percent is None
    # online_cpus missing: the per-CPU list counts them
    raw = engine_sample()
    del raw["cpu_stats"]["online_cpus"]
    assert stats.from_engine(raw).cpu_percent == 100.0
    empty = stats.from_engine({"memory_stats": {}, "cpu_stats": {}, "precpu_stats": {}})
    assert empty == stats.Usage()


def test_net_dev_sums_every_interface_but_loopback() -> None:
    assert stats.net_dev(NET_DEV) == (1024, 2006)
    assert stats.net_dev(NET_DEV.split("\n    lo")[0] + "\n") == (0, 0)  # headers only


def test_net_dev_of_a_text_that_is_not_one() -> None:
    assert stats.net_dev("") is None
    assert stats.net_dev("hello\nworld\n") is None
    assert stats.net_dev(NET_DEV + "  bad: x y\n") is None
    assert stats.net_dev(NET_DEV + "  bad: a b c d e f g h i j\n") is None


def test_with_net() -> None:
    usage = stats.Usage(pids=3)
    assert stats.with_net(usage, None) == usage
    assert stats.with_net(usage, (5, 6)) == stats.Usage(pids=3, net_rx=5, net_tx=6)


def test_row_to_dict_is_flat() -> None:
    row = stats.StatsRow(
        name="a",
        owner="alice",
        owner_uid=1001,
        branch="main",
        kind="dev",
        state="running",
        usage=stats.Usage(cpu_percent=1.5, memory_used=1, memory_limit=2, pids=3),
        opt_bytes=4096,
    )
    out = row.to_dict()
    assert out["cpu_percent"] == 1.5 and out["memory_limit"] == 2 and out["opt_bytes"] == 4096
    assert "usage" not in out
    assert stats.cells(out) == [
        "a",
        "alice",
        "main",
        "running",
        "1.5%",
        "1 B / 2 B (50%)",
        "3",
        "-",
        "4.0 KiB",
    ]


def test_cells_of_a_stopped_container() -> None:
    row = {"name": "b", "owner": "root", "branch": "", "state": "exited", "opt_bytes": None}
    assert stats.cells(row) == ["b", "root", "-", "exited", "-", "-", "-", "-", "-"]


def test_memory_and_net_cells() -> None:
    assert stats.memory_cell(3 << 30, 8 << 30) == "3.0 GiB / 8.0 GiB (38%)"
    assert stats.memory_cell(512, None) == "512 B"
    assert stats.memory_cell(None, 8) == "-"
    assert stats.net_cell(1536, 0) == "1.5 KiB / 0 B"
    assert stats.net_cell(None, 0) == "-"
    assert stats.percent_cell(None) == "-"
    assert stats.percent_cell(123.456) == "123.5%"
