"""The docker SDK parameters for systemd as PID 1 (proven on the real engine in
tests/integration/test_images_boot.py)."""

from __future__ import annotations

from pathlib import Path

from devbox.model.vmstyle import hosts_file, resolv_conf, systemd_run_kwargs


def test_systemd_run_kwargs() -> None:
    kw = systemd_run_kwargs(
        "alice-main",
        "devbox/dev:latest",
        Path("/opt/containers/a/opt"),
        {"devbox.role": "dockeruser"},
        "none",
    )
    assert kw["name"] == kw["hostname"] == "alice-main"
    assert kw["image"] == "devbox/dev:latest"
    assert kw["privileged"] is False
    assert "cap_add" not in kw
    assert kw["cgroupns"] == "host"
    # only its own cgroup subtree of the named systemd hierarchy, never the host's cgroupfs
    assert "/sys/fs/cgroup" not in kw["volumes"]
    assert kw["cgroup_parent"] == "/devbox/alice-main"
    cg = {src: spec for src, spec in kw["volumes"].items() if src.startswith("/sys/fs/cgroup")}
    assert cg == {
        "/sys/fs/cgroup/systemd/devbox-view/alice-main": {
            "bind": "/sys/fs/cgroup/systemd",
            "mode": "rw",
        },
        "/sys/fs/cgroup/systemd/devbox/alice-main": {
            "bind": "/sys/fs/cgroup/systemd/devbox/alice-main",
            "mode": "rw",
        },
    }
    assert kw["volumes"]["/opt/containers/a/opt"] == {"bind": "/opt", "mode": "rw"}
    assert set(kw["tmpfs"]) == {"/run", "/run/lock", "/tmp"}
    assert kw["stop_signal"] == "SIGRTMIN+3"
    assert kw["environment"]["container"] == "docker"
    assert kw["network_mode"] == "none"
    assert kw["network_disabled"] is True  # devbox plumbs the LAN: no libnetwork sandbox
    assert kw["restart_policy"] == {"Name": "unless-stopped"}
    assert kw["labels"] == {"devbox.role": "dockeruser"}
    assert kw["detach"] is True and kw["tty"] is True


def test_defaults_and_options() -> None:
    kw = systemd_run_kwargs(name="x", image="i", opt_dir=None, labels=None)
    assert "/opt" not in [v["bind"] for v in kw["volumes"].values()]
    assert kw["network_mode"] == "none"
    kw = systemd_run_kwargs(
        "x", "i", None, None, network_mode=None, restart="", hostname="h", environment={"TZ": "UTC"}
    )
    assert "network_mode" not in kw and "restart_policy" not in kw
    assert "network_disabled" not in kw
    assert "network_disabled" not in systemd_run_kwargs("x", "i", None, None, "bridge")
    assert kw["hostname"] == "h" and kw["environment"] == {"container": "docker", "TZ": "UTC"}


def test_hosts_file_names_the_container() -> None:
    text = hosts_file("alice-main")
    assert "127.0.0.1\tlocalhost\n" in text and "127.0.1.1\talice-main\n" in text


def test_resolv_conf_drops_loopback_name_servers() -> None:
    host = (
        "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.1.2.3\n"
        "nameserver ::1\nnameserver fe80::1%eth0\noptions edns0\n"
    )
    got = resolv_conf(host)
    assert "127.0.0.53" not in got and "::1\n" not in got
    assert "nameserver 10.1.2.3\n" in got and "nameserver fe80::1%eth0\n" in got
    assert "search corp.example\n" in got and "options edns0\n" in got
    assert resolv_conf("") == "\n"


def test_cgroup_v2_plan_keeps_limits_out_of_reach() -> None:
    from devbox.model.vmstyle import CGROUP_V2, cgroup_kwargs

    kw = cgroup_kwargs("bob", CGROUP_V2)
    # the container's own subtree is devbox/bob/ns; devbox/bob (where devbox keeps the
    # limits on v2) is above what it can see
    assert kw["cgroup_parent"] == "/devbox/bob/ns"
    assert kw["volumes"] == {
        "/sys/fs/cgroup/devbox-view/bob": {"bind": "/sys/fs/cgroup", "mode": "rw"},
        "/sys/fs/cgroup/devbox/bob/ns": {"bind": "/sys/fs/cgroup/devbox/bob/ns", "mode": "rw"},
    }


def test_limits_reach_the_engine_and_the_labels() -> None:
    from devbox.model.limits import Limits

    kw = systemd_run_kwargs(
        "x", "i", None, {"a": "b"}, limits=Limits(memory=512 << 20, cpus=1.5, pids=300)
    )
    assert kw["mem_limit"] == kw["memswap_limit"] == 512 << 20
    assert kw["nano_cpus"] == 1_500_000_000 and kw["pids_limit"] == 300
    assert kw["labels"] == {
        "a": "b",
        "devbox.limits.memory": str(512 << 20),
        "devbox.limits.cpus": "1.5",
        "devbox.limits.pids": "300",
    }
