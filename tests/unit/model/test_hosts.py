"""The hosts of ``--host``: entries parsed and checked, the user's list over the admin's, the
dial-stdio command line, and the fleet view's rows (an unreachable host is one row)."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import hosts


def test_entry_parses_user_address_and_defaults() -> None:
    e = hosts.entry("bighost", "alice@10.0.0.12")
    assert (e.user, e.address, e.port, e.socket, e.devbox) == (
        "alice",
        "10.0.0.12",
        22,
        "",
        "devbox",
    )
    assert e.target == "alice@10.0.0.12"
    assert e.to_table() == {"ssh": "alice@10.0.0.12"}  # defaults are left out
    assert hosts.entry("b", "bob@Big.Example.COM", port="2222").address == "big.example.com"
    assert hosts.entry("b", "bob@[fe80::1]").address == "fe80::1"


def test_dial_argv_is_split_like_a_shell_and_names_the_socket() -> None:
    e = hosts.entry("h2", "root@h2", socket="/x y/devbox.sock", devbox="/opt/py -m devbox")
    assert e.dial_argv() == [
        "/opt/py",
        "-m",
        "devbox",
        "common",
        "dial-stdio",
        "--socket",
        "/x y/devbox.sock",
    ]
    assert hosts.from_table("h2", e.to_table(), "f").dial_argv() == e.dial_argv()


@pytest.mark.parametrize(
    ("ssh", "why"),
    [
        ("alice", "is not USER@ADDR"),
        ("@host", "is not USER@ADDR"),
        ("alice@", "is not USER@ADDR"),
        ("-oProxyCommand=x@h", "is not a user name"),
        ("alice@-oProxyCommand=x", "neither a host name nor an IP"),
        ("alice@a b", "neither a host name nor an IP"),
        ("alice@h;rm", "neither a host name nor an IP"),
    ],
)
def test_bad_ssh_targets_are_refused(ssh: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        hosts.entry("h", ssh)


def test_bad_names_ports_sockets_commands_are_refused() -> None:
    for name in ("local", "Big", "-x", ""):
        with pytest.raises(UserError):
            hosts.entry(name, "a@h")
    for port in (0, 65536, "ssh", True):
        with pytest.raises(UserError, match="port"):
            hosts.entry("h", "a@h", port=port)
    with pytest.raises(UserError, match="not absolute"):
        hosts.entry("h", "a@h", socket="run/devbox.sock")
    with pytest.raises(UserError, match="not a path"):
        hosts.entry("h", "a@h", socket="/run/x\n")
    for cmd in ("", "  ", "devbox\nrm -rf /", "'unclosed"):
        with pytest.raises(UserError, match="devbox command"):
            hosts.entry("h", "a@h", devbox=cmd)


def test_tables_name_the_file_and_the_key_on_errors() -> None:
    with pytest.raises(UserError, match=r"cfg.toml: \[hosts.h2\]: unknown key 'sh'"):
        hosts.hosts_of({"hosts": {"h2": {"sh": "a@b"}}}, "cfg.toml")
    with pytest.raises(UserError, match=r"\[hosts.h2\] needs ssh"):
        hosts.hosts_of({"hosts": {"h2": {"port": 22}}}, "cfg.toml")
    with pytest.raises(UserError, match=r"\[hosts.h2\]: port 0"):
        hosts.hosts_of({"hosts": {"h2": {"ssh": "a@b", "port": 0}}}, "cfg.toml")
    with pytest.raises(UserError, match="is not a table"):
        hosts.hosts_of({"hosts": {"h2": "a@b"}}, "cfg.toml")
    with pytest.raises(UserError, match="'hosts' is not a table"):
        hosts.hosts_of({"hosts": ["h2"]}, "cfg.toml")
    assert hosts.hosts_of({}, "cfg.toml") == {}


def test_the_users_entries_go_over_the_admins() -> None:
    admin = hosts.hosts_of(
        {"hosts": {"b": {"ssh": "x@admin-b"}, "a": {"ssh": "x@admin-a"}}}, "/etc/devbox/hosts.toml"
    )
    own = hosts.hosts_of({"hosts": {"b": {"ssh": "me@mine-b"}}}, "~/.config/devbox/config.toml")
    both = hosts.merged(admin, own)
    assert list(both) == ["a", "b"]
    assert both["a"].source == "/etc/devbox/hosts.toml"
    assert (both["b"].user, both["b"].address) == ("me", "mine-b")


def test_resolve_an_unknown_name_says_how_to_add_it() -> None:
    known = {"h2": hosts.entry("h2", "a@h2")}
    assert hosts.resolve(known, "h2").address == "h2"
    with pytest.raises(UserError, match=r"unknown host 'h3' \(known: h2\)") as err:
        hosts.resolve(known, "h3")
    assert err.value.hint is not None and "hosts add" in err.value.hint


def test_fleet_rows_carry_the_host_and_an_unreachable_host_is_one_row() -> None:
    rows = hosts.fleet_rows(
        [
            hosts.HostAnswer("local", [{"name": "a"}, {"name": "b"}]),
            hosts.HostAnswer("h2", None, "h2: the devbox service is not running"),
            hosts.HostAnswer("h3", []),
        ]
    )
    assert [(r["host"], r["name"], r["reachable"]) for r in rows] == [
        ("local", "a", True),
        ("local", "b", True),
        ("h2", None, False),
    ]
    assert rows[2]["error"] == "h2: the devbox service is not running"


def test_summary_of_a_host_that_answered_and_of_one_that_did_not() -> None:
    e = hosts.entry("h2", "root@h2", port=2222, source="f")
    up = hosts.summary(
        e,
        {"api": 1, "version": "1.2"},
        {
            "containers": {"running": 1, "all": 2},
            "memory": {"total": 8},
            "cpus": {"total": 2},
            "promised": {"memory": 4},
        },
        {"user": "root"},
        None,
    )
    assert up["reachable"] and up["version"] == "1.2" and up["user"] == "root"
    assert up["ssh"] == "root@h2 port 2222" and up["containers"] == {"running": 1, "all": 2}
    down = hosts.summary(e, None, None, None, "no route")
    assert not down["reachable"] and down["error"] == "no route" and down["version"] is None


def test_jump_true_false_auto_and_the_reserved_names() -> None:
    e = hosts.from_table("h2", {"ssh": "root@10.0.0.2", "jump": True}, "cfg.toml")
    assert e.jump == "yes" and e.to_table()["jump"] is True and e.to_dict()["jump"] == "yes"
    assert e.needs_jump(on_link=True) and e.jump_alias == "devbox-host-h2"
    never = hosts.entry("h3", "a@h", jump=False)
    assert never.jump == "no" and not never.needs_jump(on_link=False)
    auto = hosts.entry("h4", "a@h")
    assert auto.jump == "auto" and "jump" not in auto.to_table()
    assert auto.needs_jump(on_link=False) and not auto.needs_jump(on_link=True)
    for bad in ("maybe", 1, None):
        with pytest.raises(UserError, match="true, false or auto"):
            hosts.entry("h", "a@h", jump=bad)
    with pytest.raises(UserError, match="--host auto"):
        hosts.entry("auto", "a@h")
