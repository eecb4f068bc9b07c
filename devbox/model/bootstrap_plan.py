"""Base image planning, pure: definitions, command lines, input digests, tags and labels.

A base is described by ``roles/containerauthor/bases/<name>.toml``. This module turns one into
the exact debootstrap / dnf / yum command line, the repo files those tools read, the digest of
every build input (same digest -> nothing to rebuild) and the image's tags and labels. No I/O
besides reading the definition files; everything here is unit-tested without root.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.errors import UserError
from devbox.model.record import Record

# Bump when the rootfs preparation (prepare_actions) changes, so old bases rebuild.
PREPARE_VERSION = "2"

FAMILIES = ("debian", "rhel")
RHEL_TOOLS = ("dnf", "yum")
# Image labels live under their own prefix: containers inherit image labels, and the
# container labels (devbox.kind, devbox.release, ...) mean something else (devbox/labels.py).
LABEL_PREFIX = "devbox.build."
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class BaseDef(Record):
    """One base image definition (a ``bases/<name>.toml``)."""

    name: str
    description: str
    distro: str
    family: str  # "debian" (debootstrap) or "rhel" (dnf/yum --installroot)
    release: str  # debootstrap suite, or the RHEL major release (tag of the image)
    version: str
    mirror: str  # name of the setting holding the mirror URL, e.g. "mirror.debian"
    probe: str  # path below the mirror fetched to check it answers
    packages: tuple[str, ...] = ()
    variant: str = "minbase"
    components: tuple[str, ...] = ("main",)
    tool: str = "debootstrap"
    arch: str = "x86_64"

    @property
    def repository(self) -> str:
        return f"base/{self.name}"

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.release}"

    @property
    def debian_arch(self) -> str:
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(self.arch, self.arch)


def validate_name(name: str, what: str = "name") -> str:
    if not _NAME_RE.fullmatch(name):
        raise UserError(
            f"invalid {what} {name!r}", hint="use lowercase letters, digits, '.', '_' and '-'"
        )
    return name


def parse_base(name: str, text: str, source: str = "") -> BaseDef:
    """Parse a base definition; errors name the file and the field."""
    where = source or f"{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{where}: not valid TOML: {err}") from None
    required = ("distro", "family", "release", "mirror", "probe")
    missing = [k for k in required if not data.get(k)]
    if missing:
        raise UserError(f"{where}: missing field(s): {', '.join(missing)}")
    family = str(data["family"])
    if family not in FAMILIES:
        raise UserError(f"{where}: family must be one of {', '.join(FAMILIES)}, got {family!r}")
    tool = str(data.get("tool") or ("debootstrap" if family == "debian" else "dnf"))
    if family == "rhel" and tool not in RHEL_TOOLS:
        raise UserError(f"{where}: tool must be dnf or yum for a rhel family base")
    if family == "debian" and tool != "debootstrap":
        raise UserError(f"{where}: tool must be debootstrap for a debian family base")
    mirror = str(data["mirror"])
    if not mirror.startswith("mirror."):
        raise UserError(f"{where}: mirror must name a setting like mirror.debian, got {mirror!r}")
    return BaseDef(
        name=validate_name(name, "base name"),
        description=str(data.get("description", name)),
        distro=str(data["distro"]),
        family=family,
        release=str(data["release"]),
        version=str(data.get("version", data["release"])),
        mirror=mirror,
        probe=str(data["probe"]).lstrip("/"),
        packages=tuple(str(p) for p in data.get("packages", ())),
        variant=str(data.get("variant", "minbase")),
        components=tuple(str(c) for c in data.get("components", ("main",))),
        tool=tool,
        arch=str(data.get("arch", "x86_64")),
    )


def load_base(bases_dir: Path, name: str) -> BaseDef:
    path = bases_dir / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in bases_dir.glob("*.toml"))) or "none"
        raise UserError(f"unknown base {name!r}", hint=f"known bases: {known}")
    return parse_base(name, path.read_text(encoding="utf-8"), str(path))


def list_bases(bases_dir: Path) -> list[BaseDef]:
    return [load_base(bases_dir, p.stem) for p in sorted(bases_dir.glob("*.toml"))]


def mirror_url(base: BaseDef, settings: Mapping[str, Any]) -> str:
    try:
        url = str(settings[base.mirror]).rstrip("/")
    except KeyError:
        raise UserError(f"base {base.name}: unknown mirror setting {base.mirror!r}") from None
    if not re.match(r"^(https?|file)://", url):
        raise UserError(
            f"setting {base.mirror}: mirror must be an http(s):// or file:// URL, got {url!r}"
        )
    return url


def probe_url(base: BaseDef, mirror: str) -> str:
    return f"{mirror}/{base.probe}"


# --- repo files for dnf/yum -----------------------------------------------------------------


@dataclass(frozen=True)
class RepoFile:
    """One rendered file for dnf/yum: ``yum.conf`` or a ``.repo`` in the repos dir."""

    name: str  # file name without .j2
    template: Path
    is_config: bool


def repo_templates(yum_dir: Path) -> list[RepoFile]:
    """The yum.conf and .repo templates of ``roles/common/yum/<distro>/``."""
    if not yum_dir.is_dir():
        raise UserError(f"no yum configuration for this base: {yum_dir} is missing")
    files = []
    for path in sorted(yum_dir.glob("*.j2")):
        name = path.name[:-3]
        if name == "yum.conf" or name.endswith(".repo"):
            files.append(RepoFile(name, path, name == "yum.conf"))
    if not any(f.is_config for f in files) or not any(not f.is_config for f in files):
        raise UserError(f"{yum_dir}: need yum.conf.j2 and at least one *.repo.j2")
    return files


def repo_context(base: BaseDef, mirror: str, workdir: Path) -> dict[str, Any]:
    """What the yum templates see. ``workdir`` holds reposdir/ and cache/."""
    return {
        "name": base.name,
        "distro": base.distro,
        "release": base.release,
        "version": base.version,
        "arch": base.arch,
        "mirror": mirror,
        "reposdir": str(workdir / "repos"),
        "cachedir": str(workdir / "cache"),
    }


# --- command lines --------------------------------------------------------------------------


def debootstrap_argv(
    base: BaseDef, mirror: str, target: Path, program: str = "debootstrap"
) -> list[str]:
    argv = [
        program,
        f"--variant={base.variant}",
        f"--arch={base.debian_arch}",
        f"--components={','.join(base.components)}",
    ]
    if base.packages:
        argv.append(f"--include={','.join(base.packages)}")
    argv += [base.release, str(target), mirror]
    return argv


def rpm_argv(base: BaseDef, target: Path, workdir: Path, program: str | None = None) -> list[str]:
    """``dnf``/``yum`` installing the base packages into ``target`` with our config only."""
    tool = program or base.tool
    argv = [
        tool,
        "-y",
        f"--installroot={target}",
        f"--releasever={base.release}",
        f"--config={workdir / 'yum.conf'}",
        f"--setopt=reposdir={workdir / 'repos'}",
        f"--setopt=cachedir={workdir / 'cache'}",
        "--setopt=tsflags=nodocs",
        "--setopt=keepcache=0",
        "--disableplugin=*",
    ]
    if base.tool == "dnf":
        argv += ["--setopt=install_weak_deps=False", "--nodocs"]
    argv += ["install", *base.packages]
    return argv


def bootstrap_argv(base: BaseDef, mirror: str, target: Path, workdir: Path) -> list[str]:
    if base.family == "debian":
        return debootstrap_argv(base, mirror, target)
    return rpm_argv(base, target, workdir)


def required_program(base: BaseDef) -> tuple[str, str]:
    """(program, apt package) needed on the host to bootstrap ``base``."""
    if base.family == "debian":
        return ("debootstrap", "debootstrap")
    return (base.tool, "dnf" if base.tool == "dnf" else "yum (or dnf)")


# --- rootfs preparation for systemd as PID 1 -------------------------------------------------


@dataclass(frozen=True)
class Prepare:
    """Files to empty, remove (paths or directory contents) and write, relative to the rootfs."""

    truncate: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    clear_dirs: tuple[str, ...] = ()
    write: tuple[tuple[str, str], ...] = field(default=())
    mask_units: tuple[str, ...] = ()
    mask_generators: tuple[str, ...] = ()


# Units that cannot work in a container (no hardware, no tty, no kernel modules).
CONTAINER_MASKED_UNITS = (
    "getty.target",
    "console-getty.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "dev-hugepages.mount",
    "sys-fs-fuse-connections.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "systemd-remount-fs.service",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-firstboot.service",
)

# Generators that look for disks, hibernation images or kernel command-line options a container
# never has: each is one process on every boot (and every clone's first boot) for nothing.
# rc-local and sysv stay: users of a VM-style container may rely on them (fstab and getty are
# masked by each image: image_plan.IMAGE_MASKED_GENERATORS).
CONTAINER_MASKED_GENERATORS = (
    "systemd-cryptsetup-generator",
    "systemd-integritysetup-generator",
    "systemd-veritysetup-generator",
    "systemd-gpt-auto-generator",
    "systemd-hibernate-resume-generator",
    "systemd-debug-generator",
    "systemd-run-generator",
    "systemd-system-update-generator",
)


def prepare_actions(base: BaseDef) -> Prepare:
    """How a freshly bootstrapped tree is made ready for systemd as PID 1.

    machine-id is left empty (each container gets its own at first boot), no policy-rc.d that
    forbids starting services, package caches and lists removed.
    """
    common_remove = ("usr/sbin/policy-rc.d", "var/lib/dbus/machine-id", "etc/hostname")
    if base.family == "debian":
        return Prepare(
            truncate=("etc/machine-id",),
            remove=common_remove,
            clear_dirs=("var/cache/apt/archives", "var/lib/apt/lists", "var/log/apt", "tmp"),
            write=(
                (
                    "etc/apt/apt.conf.d/90devbox-no-recommends",
                    'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n',
                ),
            ),
            mask_units=CONTAINER_MASKED_UNITS,
            mask_generators=CONTAINER_MASKED_GENERATORS,
        )
    return Prepare(
        truncate=("etc/machine-id",),
        remove=common_remove,
        clear_dirs=("var/cache/dnf", "var/cache/yum", "tmp"),
        mask_units=CONTAINER_MASKED_UNITS,
        mask_generators=CONTAINER_MASKED_GENERATORS,
    )


def sources_list(base: BaseDef, mirror: str) -> str:
    """The apt sources.list written into a Debian-family base (debootstrap's own, explicit)."""
    return f"deb {mirror} {base.release} {' '.join(base.components)}\n"


# --- digest, tags, labels -------------------------------------------------------------------


def inputs_digest(base: BaseDef, mirror: str, rendered: Mapping[str, str]) -> str:
    """sha256 of everything that decides the content of the base: same digest, same image."""
    doc = {
        "definition": base.to_dict(),
        "mirror": mirror,
        "rendered": dict(sorted(rendered.items())),
        "prepare": PREPARE_VERSION,
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=list).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def base_tags(base: BaseDef, registry: str = "") -> list[str]:
    tags = [base.tag]
    if registry:
        tags.append(f"{registry}/{base.tag}")
    return tags


def base_labels(base: BaseDef, digest: str, built_at: str, version: str) -> dict[str, str]:
    return {
        f"{LABEL_PREFIX}kind": "base",
        f"{LABEL_PREFIX}base": base.name,
        f"{LABEL_PREFIX}distro": base.distro,
        f"{LABEL_PREFIX}release": base.release,
        f"{LABEL_PREFIX}time": built_at,
        f"{LABEL_PREFIX}version": version,
        f"{LABEL_PREFIX}inputs-digest": digest,
    }


def import_changes(labels: Mapping[str, str]) -> list[str]:
    """Dockerfile instructions applied on import (``docker import --change``)."""
    changes = ["ENV container=docker", 'CMD ["/sbin/init"]']
    changes += [f"LABEL {k}={json.dumps(v)}" for k, v in sorted(labels.items())]
    return changes


def is_up_to_date(existing_labels: Mapping[str, str] | None, digest: str) -> bool:
    return (
        bool(existing_labels)
        and (existing_labels or {}).get(f"{LABEL_PREFIX}inputs-digest") == digest
    )


def split_tag(tag: str) -> tuple[str, str]:
    """``repo:tag`` -> (repo, tag); a registry port is not a tag."""
    repo, sep, name = tag.rpartition(":")
    if not sep or "/" in name:
        return tag, "latest"
    return repo, name
