"""Clone planning: names, jobs, sysprep plan, durations, host keys (pure, no root)."""

from __future__ import annotations

import json

import pytest

from devbox.adapters import ssh_hostkeys
from devbox.errors import UserError
from devbox.model import clone_plan
from devbox.model.naming import validate_name


def test_default_names_number_from_one() -> None:
    assert clone_plan.clone_names("alice-main", 3, []) == [
        "alice-main-c1",
        "alice-main-c2",
        "alice-main-c3",
    ]


def test_names_continue_after_existing_clones_and_skip_taken() -> None:
    existing = ["alice-main", "alice-main-c1", "alice-main-c4", "alice-main-c5x", "bob-c9"]
    assert clone_plan.clone_names("alice-main", 2, existing) == ["alice-main-c5", "alice-main-c6"]


def test_prefix() -> None:
    assert clone_plan.clone_names("alice-main", 2, ["peer1"], prefix="peer") == ["peer2", "peer3"]


@pytest.mark.parametrize("prefix", ["Peer", "-x", "a b", "x;rm", ""])
def test_bad_prefix_rejected(prefix: str) -> None:
    with pytest.raises(UserError):
        clone_plan.clone_names("src", 1, [], prefix=prefix)


def test_too_long_clone_name_rejected_with_hint() -> None:
    src = "a" * 62
    with pytest.raises(UserError) as info:
        clone_plan.clone_names(src, 1, [])
    assert "--prefix" in (info.value.hint or "")


@pytest.mark.parametrize("count", [0, -1, clone_plan.MAX_COUNT + 1])
def test_bad_count(count: int) -> None:
    with pytest.raises(UserError):
        clone_plan.clone_names("src", count, [])


def test_bad_source_name() -> None:
    with pytest.raises(UserError):
        clone_plan.clone_names("Alice", 1, [])


def test_jobs() -> None:
    assert clone_plan.check_jobs(None, 20, cpus=2) == 4
    assert clone_plan.check_jobs(None, 20, cpus=64) == 16
    assert clone_plan.check_jobs(None, 3, cpus=8) == 3
    assert clone_plan.check_jobs(4, 20) == 4
    for bad in (0, 65):
        with pytest.raises(UserError):
            clone_plan.check_jobs(bad, 3)


def test_snapshot_ids_are_distinct_and_valid_tags() -> None:
    a = clone_plan.snapshot_id("alice-main", 1_800_000_000.0, "1")
    b = clone_plan.snapshot_id("alice-main", 1_800_000_000.0, "2")
    assert a != b and a.startswith("alice-main-20")
    image = clone_plan.snapshot_image(a)
    repo, _, tag = image.rpartition(":")
    assert repo == clone_plan.SNAPSHOT_REPO and tag == a
    assert clone_plan.snapshot_raw_image(a) != image


def test_sysprep_plan_covers_identity() -> None:
    removed = clone_plan.SYSPREP.remove
    assert "/etc/ssh/ssh_host_*" in removed
    assert "/var/lib/dbus/machine-id" in removed
    assert any(p.startswith("/var/lib/dhcp") for p in removed)
    assert any(p.startswith("/var/log/journal") for p in removed)
    assert clone_plan.SYSPREP.empty == ("/etc/machine-id",)


def test_find_argv_is_one_exec_form_pass() -> None:
    argv = clone_plan.find_argv()
    assert argv[0] == "find" and argv[-6:] == ["-exec", "rm", "-rf", "--", "{}", "+"]
    assert argv.count("-path") == len(clone_plan.SYSPREP.remove)
    assert argv.count("-o") == len(clone_plan.SYSPREP.remove) - 1
    # every search root comes before the expression
    assert argv[1:3] == ["/etc", "/var"]


def test_sysprep_dockerfile() -> None:
    text = clone_plan.sysprep_dockerfile("devbox-snapshot:x-raw")
    lines = text.splitlines()
    assert lines[0] == "FROM devbox-snapshot:x-raw"
    assert lines[1].startswith("RUN [")
    assert json.loads(lines[1][4:]) == clone_plan.find_argv()  # exec form, no shell
    assert len(lines) == 2


def test_clone_files() -> None:
    keys = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, "peer1")
    files = clone_plan.clone_files("peer1", keys)
    assert files["/etc/hostname"] == (b"peer1\n", 0o644)
    assert files["/etc/machine-id"] == (b"", 0o444)
    assert b"127.0.1.1\tpeer1" in files["/etc/hosts"][0]
    priv, mode = files["/etc/ssh/ssh_host_ed25519_key"]
    assert mode == 0o600 and priv.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    pub = files["/etc/ssh/ssh_host_ed25519_key.pub"][0]
    assert pub.startswith(b"ssh-ed25519 ") and pub.endswith(b" root@peer1\n")
    assert files["/etc/ssh/ssh_host_ecdsa_key.pub"][0].startswith(b"ecdsa-sha2-nistp256 ")
    with pytest.raises(UserError):
        clone_plan.clone_files("Bad Name", keys)


def test_host_keys_differ_per_clone() -> None:
    a = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, "a")
    b = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, "b")
    for kind in clone_plan.HOST_KEY_TYPES:
        assert a[kind][1].split()[1] != b[kind][1].split()[1]


def test_host_keys_load_in_paramiko() -> None:
    import io

    import paramiko

    priv, pub = ssh_hostkeys.generate("ed25519", "x")
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(priv.decode()))
    assert key.get_base64() == pub.split()[1].decode()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 12 * 3600),
        ("90m", 5400),
        ("45s", 45),
        ("2w", 14 * 86400),
        ("1w2d", 9 * 86400),
        ("1d 12h", 36 * 3600),
        ("7", 7 * 86400),
        (" 3D ", 3 * 86400),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert clone_plan.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "30x", "-3d", "3d-", "1.5d", "0d", "abc", "3d foo"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UserError):
        clone_plan.parse_duration(text)


def test_format_duration() -> None:
    assert clone_plan.format_duration(30 * 86400) == "30d"
    assert clone_plan.format_duration(7200) == "2h"
    assert clone_plan.format_duration(5) == "5s"


def test_generated_names_are_valid_dns_labels() -> None:
    for name in clone_plan.clone_names("x" * 50, 20, []):
        assert validate_name(name) == name


def test_walk_roots_are_the_literal_prefixes() -> None:
    plan = clone_plan.SysprepPlan(
        remove=("/etc/ssh/ssh_host_*", "/var/log/*.log", "/var/log/journal/*", "/var/lib/dhcp/*"),
        empty=(),
    )
    assert clone_plan.walk_roots(plan) == ["/etc/ssh", "/var/lib/dhcp", "/var/log"]


def test_sysprep_removals_match_find_semantics() -> None:
    paths = [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_rsa_key.pub",
        "/etc/ssh/sshd_config",
        "/var/log/journal/abc",
        "/var/log/journal/abc/system.journal",
        "/var/log/journal/abc-x",
        "/var/log/apt/history.log",
        "/var/log/dpkg.log",
        "/var/lib/dhcp/dhclient.leases",
        "/var/lib/dhcp",
        "/var/lib/keep",
        "/etc/machine-id",
        "/srv/var/log/x.log",
    ]
    got = clone_plan.sysprep_removals(paths)
    # '*' crosses '/' as in find -path: a log in a subdirectory goes too
    assert "/var/log/apt/history.log" in got and "/var/log/dpkg.log" in got
    assert {"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub"} <= set(got)
    # a removed directory goes as a whole: nothing listed inside it
    assert "/var/log/journal/abc" in got and "/var/log/journal/abc-x" in got
    assert "/var/log/journal/abc/system.journal" not in got
    # the directory itself stays, its contents go; other files stay
    assert "/var/lib/dhcp" not in got and "/var/lib/dhcp/dhclient.leases" in got
    for kept in ("/etc/ssh/sshd_config", "/var/lib/keep", "/etc/machine-id", "/srv/var/log/x.log"):
        assert kept not in got
    assert got == sorted(got)


def test_names_chosen_elsewhere_must_be_free_and_valid_here() -> None:
    from devbox.model.clone_plan import require_free_names

    assert require_free_names(["s-c1", "s-c2"], {"s", "other"}) == ["s-c1", "s-c2"]
    with pytest.raises(UserError, match="taken on this host already: s-c2"):
        require_free_names(["s-c1", "s-c2"], {"s-c2"})
    with pytest.raises(UserError, match="twice"):
        require_free_names(["s-c1", "s-c1"], set())
    with pytest.raises(UserError):
        require_free_names([], set())
    with pytest.raises(UserError):
        require_free_names(["../etc"], set())


def test_a_snapshot_id_from_another_host_is_checked() -> None:
    from devbox.model.clone_plan import check_snapshot_id, snapshot_id

    good = snapshot_id("alice-main", 1.7e9, "x")
    assert check_snapshot_id(good) == good
    for bad in ("", "../x", "a/b", "A", "x:y", "-x", "a" * 101):
        with pytest.raises(UserError, match="not a snapshot id"):
            check_snapshot_id(bad)


def test_a_run_sent_by_a_newer_host_keeps_what_this_devbox_knows() -> None:
    """A newer host may send fields this client has no place for: they are left out, not a
    TypeError after the clones are made; the SSH facts go only to a client that asks."""
    from devbox.model.clone_plan import CloneResult, CloneRun, run_from_dict

    run = CloneRun("src", "snap", "img", "copy", 0.2, 1.5, [CloneResult("c1", True, ip="10.0.0.5")])
    run.clones[0].reach = {"name": "c1"}
    sent = run.to_dict()
    assert sent["clones"][0]["reach"] == {"name": "c1"}
    assert "reach" not in run.to_dict(reach=False)["clones"][0]
    sent["future"] = 1
    sent["clones"][0]["future"] = {"x": 1}
    back = run_from_dict(sent)
    assert back.clones[0].name == "c1" and back.clones[0].reach == {"name": "c1"}
    assert back.source == "src" and back.seconds == 1.5
