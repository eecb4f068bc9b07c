"""The clone's ARP check: it waits, bounded, while the interface is briefly not there; a
clone's runs beside sshd's start."""

from __future__ import annotations

import errno
import re
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devbox.errors import OperationFailed
from devbox.oplog import OpLog
from devbox.services import clone_steps
from devbox.steps import SilentReporter, StepContext


class Notes(OpLog):
    def __init__(self) -> None:
        super().__init__(None)
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


def _job() -> Any:
    return cast(
        Any,
        SimpleNamespace(pid=1, ifname="lan0", mac="02:00:00:00:00:01", ip="10.9.8.7", name="c1"),
    )


def _probe_answers(monkeypatch: pytest.MonkeyPatch, answers: list[object]) -> list[object]:
    """Make the ARP probe give ``answers`` in turn (an exception is raised)."""
    calls: list[object] = []

    def clash(pid: int, ifname: str, mac: str, ip: str) -> str | None:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(answer)
        if isinstance(answer, BaseException):
            raise answer
        return cast("str | None", answer)

    monkeypatch.setattr(clone_steps, "address_clash", clash)
    return calls


def _ctx() -> tuple[StepContext, Notes]:
    log = Notes()
    return StepContext("arp-check", log, SilentReporter()), log


def test_a_briefly_missing_interface_is_probed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _probe_answers(monkeypatch, [OSError(errno.ENODEV, "No such device"), None])
    ctx, log = _ctx()
    clone_steps.arp_check(_job(), ctx)
    assert len(calls) == 2
    assert log.lines == ["[arp-check] interface not ready (No such device); probing again"]
    assert ctx.note == "10.9.8.7 is ours alone"


def test_another_host_on_our_address_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _probe_answers(monkeypatch, ["02:aa:bb:cc:dd:ee"])
    with pytest.raises(OperationFailed, match="also used by 02:aa:bb:cc:dd:ee"):
        clone_steps.arp_check(_job(), _ctx()[0])


def test_another_error_is_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _probe_answers(monkeypatch, [OSError(errno.EPERM, "Operation not permitted")])
    with pytest.raises(
        OperationFailed, match=re.escape("ARP check of 10.9.8.7 on c1: Operation not")
    ):
        clone_steps.arp_check(_job(), _ctx()[0])
    assert len(calls) == 1


def test_an_interface_that_stays_away_fails_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clone_steps, "ARP_READY_WAIT", 0.3)
    _probe_answers(monkeypatch, [OSError(errno.ENETDOWN, "Network is down")])
    with pytest.raises(
        OperationFailed, match=re.escape("ARP check of 10.9.8.7 on c1: Network is down")
    ):
        clone_steps.arp_check(_job(), _ctx()[0])


# ---------------------------------------------------------------- the ARP check beside sshd


def _clone_job(tmp_path: Path) -> Any:
    from devbox import config
    from devbox.services.clone_snapshot import Frozen

    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    job = clone_steps.CloneJob(
        cfg, "c1", "src", Frozen("snap", "img", "copy", 0.0, {}), OpLog(None)
    )
    job.pid, job.ifname, job.mac, job.ip = 1, "lan0", "02:00:00:00:00:01", "10.9.8.7"
    job.keys = {"ed25519": (b"private", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@c1\n")}
    return job


def _clone_step(name: str) -> Any:
    from devbox.services import clone

    return dict(clone.STEPS)[name]


def _sshd_proves(monkeypatch: pytest.MonkeyPatch) -> None:
    from devbox.adapters import ssh

    monkeypatch.setattr(ssh, "wait_for_host_key", lambda *a, **k: 0.25)


def test_a_clones_arp_check_does_not_wait_for_its_probe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The probe listens 0.3 s for another host on the address: the clone's ARP check step
    starts it and goes on (sshd starts meanwhile); before, the step waited for it."""
    answer = threading.Event()
    probed = threading.Event()

    def clash(pid: int, ifname: str, mac: str, ip: str) -> str | None:
        probed.set()
        answer.wait(10)
        return None

    monkeypatch.setattr(clone_steps, "address_clash", clash)
    _sshd_proves(monkeypatch)
    job = _clone_job(tmp_path)
    ctx, _log = _ctx()
    step = threading.Thread(target=_clone_step("ARP check"), args=(job, ctx), daemon=True)
    step.start()
    step.join(5)
    try:
        assert not step.is_alive(), "the ARP check step waited for the probe"
        assert probed.wait(5)
        assert not answer.is_set()
    finally:
        answer.set()
    wait = _clone_step("wait for sshd")
    ctx2, _ = _ctx()
    wait(job, ctx2)  # takes the probe's verdict: nobody else answered
    assert ctx2.note.startswith("sshd answered after 0.25s and proved its host key; known_hosts ")
    assert ctx2.note.endswith("; 10.9.8.7 is ours alone")
    assert "c1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5" in (job.layout.ssh / "known_hosts").read_text()


def test_a_clash_found_beside_sshd_fails_the_clone_and_records_no_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _probe_answers(monkeypatch, ["02:aa:bb:cc:dd:ee"])
    _sshd_proves(monkeypatch)
    job = _clone_job(tmp_path)
    _clone_step("ARP check")(job, _ctx()[0])
    with pytest.raises(OperationFailed, match="also used by 02:aa:bb:cc:dd:ee"):
        _clone_step("wait for sshd")(job, _ctx()[0])
    assert not (job.layout.ssh / "known_hosts").exists()


def test_a_clash_explains_an_sshd_that_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sshd at a clashing address is someone else's: the clash is the error, not its key."""
    from devbox.adapters import ssh

    _probe_answers(monkeypatch, ["02:aa:bb:cc:dd:ee"])

    def other_key(*args: object, **kwargs: object) -> float:
        raise OperationFailed("sshd on 10.9.8.7:22 holds another host key")

    monkeypatch.setattr(ssh, "wait_for_host_key", other_key)
    job = _clone_job(tmp_path)
    _clone_step("ARP check")(job, _ctx()[0])
    with pytest.raises(OperationFailed, match="also used by 02:aa:bb:cc:dd:ee"):
        _clone_step("wait for sshd")(job, _ctx()[0])


def test_an_undone_arp_check_stops_its_probe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A clone rolled back while its interface is gone: the probe (which would retry for
    ARP_READY_WAIT) ends at once."""
    _probe_answers(monkeypatch, [OSError(errno.ENODEV, "No such device")])
    job = _clone_job(tmp_path)
    ctx, _log = _ctx()
    _clone_step("ARP check")(job, ctx)
    for undo in reversed(ctx.undos):  # what a rollback does
        undo.func()
    assert job.arp is not None and job.arp.done()
    assert job.arp.result() == "10.9.8.7 is ours alone"


def test_the_ssh_entry_step_hands_back_the_facts_the_client_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The clone's reply carries how the client's ssh reaches it: the address it leased, its
    login user, the host keys devbox made as known_hosts holds them (type and key, no
    comment), devbox's key and known_hosts; the step itself is skipped (the client writes)."""
    from devbox.services import host_reach
    from devbox.steps import StepSkipped

    monkeypatch.setattr(host_reach, "reachable_directly", lambda ip: True)
    cfg = SimpleNamespace(root=tmp_path, flag=lambda key: False)
    job = SimpleNamespace(
        cfg=cfg,
        name="c1",
        ip="10.9.8.7",
        user="dev",
        keys={"ed25519": (b"priv", b"ssh-ed25519 AAAAC3Nz root@c1\n")},
        reach=None,
    )
    ctx, _log = _ctx()
    with pytest.raises(StepSkipped):
        clone_steps.ssh_config(cast(Any, job), ctx)
    assert job.reach == {
        "name": "c1",
        "ip": "10.9.8.7",
        "user": "dev",
        "host_keys": ["ssh-ed25519 AAAAC3Nz"],
        "proxy_command": None,
        "identity_file": str(tmp_path / "ssh" / "id_ed25519"),
        "known_hosts": str(tmp_path / "ssh" / "known_hosts"),
    }


def _ssh_job(tmp_path: Path, keys: dict[str, tuple[bytes, bytes]]) -> Any:
    cfg = SimpleNamespace(root=tmp_path, flag=lambda key: False)
    log = Notes()
    from devbox.paths import Layout

    return SimpleNamespace(
        cfg=cfg,
        name="c1",
        ip="10.9.8.7",
        user="dev",
        keys=keys,
        reach=None,
        log=log,
        layout=Layout(tmp_path),
    )


def test_real_host_keys_handed_back_pass_the_clients_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The keys a clone really gets (every type devbox makes) come back in the form the
    client's check of a service's facts takes."""
    from devbox.adapters import ssh_hostkeys
    from devbox.api import client_ssh
    from devbox.model import clone_plan
    from devbox.services import host_reach
    from devbox.steps import StepSkipped

    monkeypatch.setattr(host_reach, "reachable_directly", lambda ip: True)
    job = _ssh_job(tmp_path, ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, "c1"))
    ctx, _log = _ctx()
    with pytest.raises(StepSkipped):
        clone_steps.ssh_config(cast(Any, job), ctx)
    facts = client_ssh.checked(job.reach)
    assert len(facts["host_keys"]) == len(clone_plan.HOST_KEY_TYPES)


def test_a_failed_route_lookup_leaves_the_clone_made_and_the_client_asking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from devbox.errors import OperationFailed
    from devbox.services import host_reach
    from devbox.steps import StepSkipped

    def broken(ip: str) -> bool:
        raise OperationFailed("route lookup: Operation not permitted")

    monkeypatch.setattr(host_reach, "reachable_directly", broken)
    job = _ssh_job(tmp_path, {})
    ctx, _log = _ctx()
    with pytest.raises(StepSkipped, match="asks for the facts"):
        clone_steps.ssh_config(cast(Any, job), ctx)
    assert job.reach is None


def test_with_write_config_root_s_entry_uses_devbox_s_key_and_known_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A job that writes the entry itself (ssh.write_config, root's CLI without the service):
    the clone's address, 'dev', devbox's own key and known_hosts, no ProxyCommand on a LAN the
    host reaches directly; the same facts handed back."""
    from devbox.adapters.host import sshconfig
    from devbox.services import host_reach
    from devbox.state import container_records

    monkeypatch.setattr(host_reach, "reachable_directly", lambda ip: True)
    monkeypatch.setattr(container_records, "home_dir", lambda cfg: tmp_path / "home")
    written: list[Any] = []
    monkeypatch.setattr(sshconfig, "write_entry", lambda home, entry: written.append(entry))
    job = _ssh_job(tmp_path, {})
    job.cfg.flag = lambda key: True
    ctx, _log = _ctx()
    clone_steps.ssh_config(cast(Any, job), ctx)
    assert written == [
        sshconfig.HostEntry(
            "c1",
            "10.9.8.7",
            "dev",
            tmp_path / "ssh" / "id_ed25519",
            tmp_path / "ssh" / "known_hosts",
            proxy_command=None,
        )
    ]
    assert job.reach is not None and job.reach["ip"] == "10.9.8.7"
