"""What ``devbox common setup`` does to a host: a pure plan from what was found there.

The host admin's bootstrap (it runs before the devbox service exists): Debian packages
(the list ``scripts/install-deps.sh`` installs), a Docker engine that answers, the sysctls
devbox needs (what ``devbox common doctor`` checks), the groups of the service's socket and of
its admins, and the service's systemd unit. Each step is planned from the facts alone
(:class:`HostFacts`, gathered by ``services/host_setup.survey``), so a second run on a set-up
host plans nothing, and ``--dry-run`` shows the plan without doing any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devbox.model import capacity

# the Debian packages a devbox host needs (scripts/install-deps.sh installs the same list)
APT_PACKAGES: tuple[str, ...] = (
    "docker.io",  # the Docker engine devbox drives through the docker SDK
    "dnsmasq-base",  # DHCP server of the built-in lab LAN
    "openssh-server",  # lab up --hosts N: the sshd each simulated host runs
    "debootstrap",  # builds Debian/Ubuntu base images from scratch
    "busybox-static",  # tiny test images; the pipework-style baseline's udhcpc
    "patch",  # combos: patch files applied into /opt
    "xfsprogs",  # reflink /opt snapshots on XFS
    "iproute2",
    "util-linux",
    "git",
    "openssh-client",
    "ca-certificates",
    "python3",
    "python3-venv",
    "python3-dev",
    "gcc",
)

# sysctl -> the least value devbox needs (doctor's 'inotify instances' check)
SYSCTLS: Mapping[str, int] = {capacity.SYSCTL: capacity.SUGGESTED_LIMIT}
SYSCTL_FILE = "/etc/sysctl.d/90-devbox.conf"

# the steps, in order; their names are stable (the progress rows and --json name them)
PACKAGES = "Debian packages"
DOCKERD = "dockerd"
SYSCTL = "sysctl"
GROUPS = "groups"
UNIT = "service unit"
STEPS: tuple[str, ...] = (PACKAGES, DOCKERD, SYSCTL, GROUPS, UNIT)


@dataclass(frozen=True)
class HostFacts:
    """What was found on the host."""

    installed: frozenset[str]  # of the wanted packages, those dpkg says are installed
    docker_answers: bool  # a Docker engine answers on its socket
    sysctls: Mapping[str, int]  # each wanted sysctl's value now
    groups: frozenset[str]  # of the wanted groups, those that exist
    unit_path: str
    unit_text: str | None  # the unit file's text now (None: no such file)


@dataclass(frozen=True)
class Wanted:
    """What the host should have."""

    unit_text: str  # the unit devbox common daemon --install writes
    groups: tuple[str, ...] = ("devbox", "devbox-admin")
    packages: tuple[str, ...] = APT_PACKAGES
    sysctls: Mapping[str, int] = field(default_factory=lambda: dict(SYSCTLS))


@dataclass(frozen=True)
class Task:
    """One step: what it would do (``todo``, empty: nothing) or what is in place (``done``)."""

    step: str
    todo: tuple[str, ...]
    done: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "todo": list(self.todo), "done": "" if self.todo else self.done}


@dataclass(frozen=True)
class HostSetupPlan:
    packages: tuple[str, ...]  # to install
    start_dockerd: bool
    sysctls: Mapping[str, int]  # to raise: name -> value
    sysctls_now: Mapping[str, int]
    groups: tuple[str, ...]  # to add
    write_unit: bool
    unit_path: str
    unit_exists: bool

    @property
    def changes(self) -> bool:
        return any(t.todo for t in self.tasks())

    def tasks(self) -> list[Task]:
        pkgs = Task(
            PACKAGES,
            (f"apt-get install {' '.join(self.packages)}",) if self.packages else (),
            "every package installed",
        )
        after = " (after installing docker.io)" if "docker.io" in self.packages else ""
        docker = Task(
            DOCKERD,
            (f"start dockerd{after}",) if self.start_dockerd else (),
            "a Docker engine answers",
        )
        sysctl = Task(
            SYSCTL,
            tuple(
                f"{name} = {value} (now {self.sysctls_now.get(name, 0)}), kept in {SYSCTL_FILE}"
                for name, value in self.sysctls.items()
            ),
            "every sysctl high enough",
        )
        groups = Task(
            GROUPS, tuple(f"groupadd --system {g}" for g in self.groups), "the groups exist"
        )
        verb = "rewrite" if self.unit_exists else "write"
        unit = Task(
            UNIT,
            (f"{verb} {self.unit_path} (devbox common daemon --install)",)
            if self.write_unit
            else (),
            f"{self.unit_path} is up to date",
        )
        return [pkgs, docker, sysctl, groups, unit]

    def task(self, step: str) -> Task:
        return next(t for t in self.tasks() if t.step == step)

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.tasks()]


def plan(facts: HostFacts, wanted: Wanted) -> HostSetupPlan:
    """The steps that bring a host with ``facts`` to ``wanted``; nothing for what is there."""
    return HostSetupPlan(
        packages=tuple(p for p in wanted.packages if p not in facts.installed),
        start_dockerd=not facts.docker_answers,
        sysctls={
            name: value
            for name, value in wanted.sysctls.items()
            if facts.sysctls.get(name, 0) < value
        },
        sysctls_now=dict(facts.sysctls),
        groups=tuple(g for g in dict.fromkeys(wanted.groups) if g not in facts.groups),
        write_unit=facts.unit_text != wanted.unit_text,
        unit_path=facts.unit_path,
        unit_exists=facts.unit_text is not None,
    )


def parse_dpkg_status(output: str) -> frozenset[str]:
    """The installed packages in ``dpkg-query -W -f '${Package}\\t${Status}\\n'`` output
    (a removed package keeps a 'deinstall ok config-files' status: not installed)."""
    out: set[str] = set()
    for line in output.splitlines():
        name, _, status = line.partition("\t")
        if status.strip() == "install ok installed":
            out.add(name.split(":", 1)[0].strip())
    return frozenset(out)


def sysctl_file_text(values: Mapping[str, int]) -> str:
    """The persistent sysctl.d file for ``values``."""
    lines = ["# devbox common setup: room for many VM-style containers (devbox common doctor)"]
    lines += [f"{name} = {value}" for name, value in sorted(values.items())]
    return "\n".join(lines) + "\n"
