"""The plan of the lab's simulated hosts: names, interfaces, MACs, paths, dockerd/sshd argv,
the host service's environment, and the refusals (count, names, socket paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import lab_hosts_plan as hp
from devbox.model.lab_plan import IFNAMSIZ, LabPlan
from devbox.model.lab_plan import plan as lab_plan
from devbox.paths import RESERVED, Layout


def lab(**env: str) -> LabPlan:
    base = {"DEVBOX_ROOT": "/tmp/dbx-unit", "DEVBOX_LAB_NAME": "lab1"}
    base.update(env)
    return lab_plan(config.load(environ=base, files=()))


HOSTS = Path("/tmp/dbx-unit/lab-hosts")


def test_count_n_makes_hosts_2_to_n() -> None:
    p = hp.plan(lab(), HOSTS, 3)
    assert [h.name for h in p.hosts] == ["lab1-h2", "lab1-h3"]
    assert [h.index for h in p.hosts] == [2, 3]
    assert hp.plan(lab(), HOSTS, 1).hosts == ()
    assert p.host("lab1-h3") is p.hosts[1] and p.host("lab1-h9") is None


@pytest.mark.parametrize("count", [0, -1, hp.MAX_HOSTS + 1])
def test_count_out_of_range_is_a_user_error(count: int) -> None:
    with pytest.raises(UserError, match="--hosts"):
        hp.plan(lab(), HOSTS, count)


def test_interfaces_fit_and_differ() -> None:
    p = hp.plan(lab(), HOSTS, hp.MAX_HOSTS)
    ports = [h.port for h in p.hosts]
    assert len(set(ports)) == len(ports)
    assert all(len(n) <= IFNAMSIZ for n in [*ports, hp.BRIDGE_IFNAME, hp.HOST_IFNAME])
    # the lab-side names never collide with the lab's own interface inside its netns
    assert p.lab.ns_ifname not in ports and hp.BRIDGE_IFNAME not in ports
    assert all(h.uplink == hp.HOST_IFNAME and h.netns == h.name for h in p.hosts)
    # never the name of a real NIC: nothing ever lands on this machine's eth0
    assert hp.HOST_IFNAME != "eth0"


def test_macs_are_stable_unicast_local_and_distinct() -> None:
    a = hp.plan(lab(), HOSTS, 4)
    b = hp.plan(lab(), HOSTS, 4)
    assert [h.mac for h in a.hosts] == [h.mac for h in b.hosts]
    assert len({h.mac for h in a.hosts}) == 3
    for h in a.hosts:
        first = int(h.mac.split(":")[0], 16)
        assert first & 0x02 and not first & 0x01
    other = hp.plan(lab(DEVBOX_LAB_NAME="lab2"), HOSTS, 2).hosts[0]
    assert other.mac != a.hosts[0].mac and other.client_id != a.hosts[0].client_id


def test_every_path_is_under_the_host_folder() -> None:
    h = hp.plan(lab(), HOSTS, 2).hosts[0]
    assert h.dir == Layout(Path("/tmp/dbx-unit")).lab_hosts / "lab1-h2"
    for path in (
        h.root,
        h.service_socket,
        h.docker_socket,
        h.data_root,
        h.dockerd_pid_file,
        h.dockerd_config,
        h.host_key,
        h.authorized_keys,
        h.sshd_config,
        h.record,
    ):
        assert path.is_relative_to(h.dir), path
    assert h.service_socket == Layout(h.root).service_socket
    assert "lab-hosts" in RESERVED


def test_the_exec_root_is_short_and_one_per_host_folder() -> None:
    """containerd refuses socket paths over 104 bytes: the exec root is a short /run path
    named by the host folder, whatever the root's depth."""
    deep = Path("/tmp/pytest-of-root/pytest-999/a-long-test-folder-name0/root")
    a = hp.plan(lab(), Layout(deep).lab_hosts, 2).hosts[0]
    b = hp.plan(lab(), HOSTS, 2).hosts[0]
    assert a.exec_root.parent == hp.EXEC_ROOTS and a.exec_root != b.exec_root
    sock = a.exec_root / "containerd" / "containerd-debug.sock"
    assert len(str(sock).encode()) <= hp.CONTAINERD_PATH_MAX


def test_dockerd_argv_is_isolated_from_this_machines_dockerd() -> None:
    h = hp.plan(lab(), HOSTS, 2).hosts[0]
    argv = h.dockerd_argv("/usr/sbin/dockerd")
    assert argv[0] == "/usr/sbin/dockerd"
    assert f"--data-root={h.data_root}" in argv and f"--exec-root={h.exec_root}" in argv
    assert f"--pidfile={h.dockerd_pid_file}" in argv
    assert argv[argv.index("-H") + 1] == f"unix://{h.docker_socket}" == h.docker_host
    assert f"--config-file={h.dockerd_config}" in argv  # never /etc/docker/daemon.json
    assert "--containerd-namespace=lab1-h2" in argv  # never "moby", the shared one's
    for flag in ("--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"):
        assert flag in argv


def test_sshd_listens_on_the_lab_address_with_its_own_files() -> None:
    h = hp.plan(lab(), HOSTS, 2).hosts[0]
    ctx = h.sshd_context("10.213.0.140")
    assert ctx["address"] == "10.213.0.140"
    assert ctx["host_key"] == str(h.host_key)
    assert ctx["authorized_keys"] == str(h.authorized_keys)
    argv = h.sshd_argv("/usr/sbin/sshd")
    assert argv[:2] == ["/usr/sbin/sshd", "-D"] and str(h.sshd_config) in argv


def test_sshd_template_renders_only_the_hosts_own_files() -> None:
    from devbox.adapters import templates

    h = hp.plan(lab(), HOSTS, 2).hosts[0]
    text = templates.render("sshd_config.j2", h.sshd_context("10.213.0.140"))
    assert "ListenAddress 10.213.0.140\n" in text
    assert f"HostKey {h.host_key}\n" in text
    assert f"AuthorizedKeysFile {h.authorized_keys}\n" in text
    assert "PasswordAuthentication no\n" in text and "/etc/ssh" not in text


def test_service_environment_is_the_hosts_not_the_callers() -> None:
    h = hp.plan(lab(), HOSTS, 2).hosts[0]
    caller = {
        "PATH": "/usr/bin",
        "DEVBOX_ROOT": "/opt/containers",
        "DEVBOX_LAB_NAME": "lab1",
        "DEVBOX_SERVICE_SOCKET": "/run/devbox/devbox.sock",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "DEVBOX_TEST_RUN_ID": "abcd",
        "HOME": "/root",
        "XDG_CONFIG_HOME": "/root/.config",
    }
    env = h.service_environ(caller)
    # root's HOME there is the host's own: its settings and registry login, never /root's
    assert env["HOME"] == str(h.home) and h.home.parent == h.dir
    assert "XDG_CONFIG_HOME" not in env
    assert env["PATH"] == "/usr/bin" and env["DEVBOX_TEST_RUN_ID"] == "abcd"
    assert env["DEVBOX_ROOT"] == str(h.root)
    assert env["DOCKER_HOST"] == h.docker_host
    assert env["DEVBOX_PARENT"] == hp.HOST_IFNAME
    assert env["DEVBOX_LAB_NAME"] != "lab1"
    assert "DEVBOX_SERVICE_SOCKET" not in env


def test_bad_lab_name_for_a_host_is_a_user_error() -> None:
    with pytest.raises(UserError, match="lab host name"):
        hp.plan(lab(DEVBOX_LAB_NAME="x" * 62), HOSTS, 2)


def test_too_long_socket_path_is_a_user_error() -> None:
    deep = Path("/tmp/" + "d" * 90)
    with pytest.raises(UserError, match="socket path") as err:
        hp.plan(lab(), deep / "lab-hosts", 2)
    assert err.value.hint is not None and "shorter" in err.value.hint


def test_bridged_lab_serves_on_the_bridge() -> None:
    p = lab()
    b = hp.bridged(p)
    assert b.ns_ifname == hp.BRIDGE_IFNAME and b.template_context()["interface"] == "labbr0"
    assert (b.gateway, b.subnet, b.uplink) == (p.gateway, p.subnet, p.uplink)


@pytest.mark.parametrize(
    ("folder", "index"),
    [
        ("lab1-h2", 2),
        ("lab1-h8", 8),
        ("lab1-h1", None),
        ("lab1-h02", None),
        ("lab1-hx", None),
        ("lab2-h2", None),
        ("lab1-h9", None),
        ("other", None),
    ],
)
def test_index_of_folder(folder: str, index: int | None) -> None:
    assert hp.index_of("lab1", folder) == index
