"""Idle stop's decisions (devbox.model.idle_plan): durations, ticks, restarts, socket tables."""

from __future__ import annotations

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import idle_plan
from devbox.model.idle_plan import Sample, Settings, Track, plan

ON = Settings(after=30.0, cpu_percent=5.0)
SEC = 1_000_000  # usec


def sample(name: str = "a", cpu: int | None = 0, sessions: int | None = 0, **kw: object) -> Sample:
    base: dict[str, object] = {"id": "id1", "started_at": "t0", "busy": False}
    base.update(kw)
    return Sample(name=name, cpu_usec=cpu, sessions=sessions, **base)  # type: ignore[arg-type]


def track(idle: float, cpu: int | None = 0, cid: str = "id1", started: str = "t0") -> Track:
    return Track(id=cid, started_at=started, idle_seconds=idle, cpu_usec=cpu)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8h", 8 * 3600.0),
        ("90m", 5400.0),
        ("30s", 30.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("45", 45.0),
        ("1.5h", 5400.0),
        (" 30S ", 30.0),
        ("off", None),
        ("", None),
        ("0", None),
        ("0s", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert idle_plan.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["8x", "h", "-5m", "1h 30m", "30s\n", "8h;rm", "1e3"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        idle_plan.parse_duration(text)


def test_setting_is_checked_at_load() -> None:
    cfg = config.load(environ={"DEVBOX_IDLE_STOP_AFTER": "30s"}, files=())
    assert cfg.text("idle_stop_after") == "30s"
    assert config.load(environ={}, files=()).text("idle_stop_after") == "off"
    assert config.load(environ={}, files=()).number("idle_cpu_percent") == 5.0
    with pytest.raises(UserError):
        config.load(environ={"DEVBOX_IDLE_STOP_AFTER": "soon"}, files=())


def test_new_container_starts_at_zero_and_is_not_stopped() -> None:
    p = plan({}, [sample()], 10.0, ON)
    assert p.tracks["a"].idle_seconds == 0.0
    assert p.stop == []


def test_idle_ticks_add_up_until_the_stop() -> None:
    tracks: dict[str, Track] = {}
    stops: list[list[str]] = []
    for i in range(6):  # cpu grows 0.1 s per 10 s tick: 1 %, under 5 %
        p = plan(tracks, [sample(cpu=i * SEC // 10)], 10.0, ON)
        tracks = p.tracks
        stops.append(p.stop)
    assert [t for t in stops if t] == [["a"], ["a"], ["a"]]  # at 30, 40, 50 s
    assert tracks["a"].idle_seconds == 50.0


def test_cpu_over_the_threshold_resets() -> None:
    p = plan({"a": track(25.0, cpu=0)}, [sample(cpu=SEC)], 10.0, ON)  # 10 % of a CPU
    assert p.tracks["a"].idle_seconds == 0.0
    assert p.active["a"] is True
    assert p.stop == []


def test_an_ssh_session_resets_and_keeps_it() -> None:
    p = plan({"a": track(1000.0)}, [sample(sessions=1)], 10.0, ON)
    assert p.tracks["a"].idle_seconds == 0.0
    assert p.stop == []


def test_busy_holds_it() -> None:
    p = plan({"a": track(1000.0)}, [sample(busy=True)], 10.0, ON)
    assert p.stop == [] and p.tracks["a"].idle_seconds == 0.0


def test_keep_running_is_tracked_never_stopped() -> None:
    p = plan({"a": track(1000.0)}, [sample(keep_running=True)], 10.0, ON)
    assert p.stop == []
    assert p.tracks["a"].idle_seconds == 1010.0


def test_off_tracks_but_never_stops() -> None:
    p = plan({"a": track(1e6)}, [sample()], 10.0, Settings(after=None, cpu_percent=5.0))
    assert p.stop == []


def test_a_restarted_or_replaced_container_starts_at_zero() -> None:
    old = {"a": track(1000.0)}
    assert plan(old, [sample(started_at="t1")], 10.0, ON).tracks["a"].idle_seconds == 0.0
    assert plan(old, [sample(id="id2")], 10.0, ON).tracks["a"].idle_seconds == 0.0
    assert plan(old, [sample(id="id2")], 10.0, ON).stop == []


def test_service_restart_keeps_the_count_and_does_not_count_its_downtime() -> None:
    # the first tick of a new service process: no time since a last tick (None)
    p = plan({"a": track(25.0, cpu=5 * SEC)}, [sample(cpu=900 * SEC)], None, ON)
    assert p.tracks["a"].idle_seconds == 25.0  # not reset to 0, not 25 + the downtime
    assert p.active["a"] is None
    assert p.stop == []
    assert p.tracks["a"].cpu_usec == 900 * SEC  # the baseline for the next tick
    p2 = plan(p.tracks, [sample(cpu=900 * SEC)], 10.0, ON)
    assert p2.tracks["a"].idle_seconds == 35.0 and p2.stop == ["a"]


def test_a_long_gap_counts_at_most_max_gap() -> None:
    p = plan({"a": track(0.0)}, [sample()], 10_000.0, ON)
    assert p.tracks["a"].idle_seconds == idle_plan.MAX_GAP


def test_unknown_cpu_or_sessions_change_nothing() -> None:
    assert plan({"a": track(29.0)}, [sample(cpu=None)], 10.0, ON).tracks["a"].idle_seconds == 29
    p = plan({"a": track(29.0)}, [sample(sessions=None)], 10.0, ON)
    assert p.tracks["a"].idle_seconds == 29.0 and p.stop == []
    # a counter that went backwards (cgroup made again): cannot tell either
    p = plan({"a": track(29.0, cpu=10 * SEC)}, [sample(cpu=SEC)], 10.0, ON)
    assert p.tracks["a"].idle_seconds == 29.0 and p.stop == []


def test_stopped_containers_are_dropped() -> None:
    assert plan({"gone": track(5.0)}, [sample()], 10.0, ON).tracks.keys() == {"a"}


def test_at_most_a_few_stops_per_tick_longest_idle_first() -> None:
    n = idle_plan.MAX_STOPS_PER_TICK + 2
    tracks = {f"c{i}": track(100.0 + i) for i in range(n)}
    p = plan(tracks, [sample(f"c{i}") for i in range(n)], 10.0, ON)
    assert p.stop == [f"c{i}" for i in reversed(range(n))][: idle_plan.MAX_STOPS_PER_TICK]


def test_track_from_dict_refuses_junk() -> None:
    good = track(3.0, cpu=7).to_dict()
    assert Track.from_dict(good) == track(3.0, cpu=7)
    for bad in (
        {},
        {**good, "idle_seconds": "x"},
        {**good, "idle_seconds": -1},
        {**good, "idle_seconds": float("nan")},
    ):
        assert Track.from_dict(bad) is None
    assert Track.from_dict({**good, "cpu_usec": "7"}) == track(3.0, cpu=None)


def test_cpu_percent() -> None:
    assert idle_plan.cpu_percent(0, SEC, 10.0) == pytest.approx(10.0)
    assert idle_plan.cpu_percent(None, SEC, 10.0) is None
    assert idle_plan.cpu_percent(0, SEC, None) is None
    assert idle_plan.cpu_percent(0, SEC, 0.0) is None


HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout"
    " inode\n"
)


def _line(local: str, remote: str, state: str) -> str:
    return f"   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000     0 0 1 1\n"


def test_ssh_sessions_in_a_tcp_table() -> None:
    import socket
    import struct

    def hx(ip: str, port: int) -> str:
        (word,) = struct.unpack("=I", socket.inet_aton(ip))
        return f"{word:08X}:{port:04X}"

    table = HEADER + "".join(
        [
            _line(hx("0.0.0.0", 22), hx("0.0.0.0", 0), "0A"),  # the listener
            _line(hx("10.214.3.101", 22), hx("10.214.3.1", 40000), "01"),  # a login
            _line(hx("10.214.3.101", 22), hx("10.214.3.101", 40001), "01"),  # via its netns
            _line(hx("127.0.0.1", 22), hx("127.0.0.1", 40002), "01"),  # loopback: not one
            _line(hx("10.214.3.101", 22), hx("10.214.3.1", 40003), "06"),  # TIME_WAIT
            _line(hx("10.214.3.101", 40004), hx("10.214.3.1", 22), "01"),  # outgoing ssh
            "   9: garbage line\n",
            "  10: ZZZZZZZZ:0016 00000000:0000 01\n",
        ]
    )
    assert idle_plan.ssh_sessions(table) == 2
    assert idle_plan.ssh_sessions(table, port=2222) == 0


def test_ssh_sessions_in_a_tcp6_table() -> None:
    import socket
    import struct

    def hx6(ip: str, port: int) -> str:
        words = struct.unpack("=4I", socket.inet_pton(socket.AF_INET6, ip))
        return "".join(f"{w:08X}" for w in words) + f":{port:04X}"

    table = HEADER + "".join(
        [
            _line(hx6("fd00:db::5", 22), hx6("fd00:db::1", 50000), "01"),
            _line(hx6("::ffff:10.214.3.101", 22), hx6("::ffff:10.214.3.1", 50001), "01"),
            _line(hx6("::1", 22), hx6("::1", 50002), "01"),
        ]
    )
    assert idle_plan.ssh_sessions(table) == 2


def test_keep_running_is_a_label_of_the_made_container() -> None:
    from devbox.model import labels
    from devbox.model.container_plan import MakeOptions, container_labels

    def made(**kw: bool) -> dict[str, str]:
        opts = MakeOptions(name="a", branch="main", **kw)
        return container_labels(opts, "dev", "lan", "02:00:00:00:00:01", "lan0", "/opt/x", {})

    assert labels.keeps_running(made(keep_running=True))
    assert not labels.keeps_running(made())
    assert labels.KEEP_RUNNING not in made()
    assert not labels.keeps_running({labels.KEEP_RUNNING: "no"})


def test_idle_column_text() -> None:
    from devbox.model.units import human_duration

    assert [human_duration(s) for s in (0, 45, 90, 7260, 90000)] == [
        "0s",
        "45s",
        "1m30s",
        "2h01m",
        "1d01h",
    ]
