"""Image planning, pure: ``image.toml`` definitions, the Dockerfile context, build inputs digest,
tags, labels, and the parsing of build/push/pull progress events.

An image lives in ``roles/containerauthor/images/<name>/image.toml`` (plus files beside it) and
is rendered through ``templates/Dockerfile.j2``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from devbox.errors import UserError
from devbox.model.bootstrap_plan import LABEL_PREFIX, validate_name
from devbox.model.record import Record

REPOSITORY_PREFIX = "devbox"
DEFAULT_TAG = "latest"
_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


@dataclass(frozen=True)
class FileSpec:
    src: str  # relative to the image directory
    dest: str  # absolute path in the image
    mode: str = ""  # octal, e.g. "0755"


@dataclass(frozen=True)
class ImageDef(Record):
    name: str
    description: str
    base: str  # base definition name, e.g. debian-12
    packages: tuple[str, ...] = ()
    locale: str = "C.UTF-8"
    timezone: str = "Etc/UTC"
    user: str = ""  # login user made with passwordless sudo; empty: none
    ssh: bool = True  # openssh-server with host keys generated at first boot
    netwait: bool = False  # install roles/common/netwait (if present at build time)
    enable: tuple[str, ...] = ()  # systemd units to enable
    mask: tuple[str, ...] = ()  # systemd units to mask
    run: tuple[str, ...] = ()  # extra shell commands (one RUN each)
    files: tuple[FileSpec, ...] = ()
    cmd: tuple[str, ...] = ("/sbin/init",)
    stop_signal: str = "SIGRTMIN+3"  # systemd's clean halt
    expose: tuple[int, ...] = ()
    extra_labels: tuple[tuple[str, str], ...] = field(default=())

    @property
    def repository(self) -> str:
        return f"{REPOSITORY_PREFIX}/{self.name}"

    @property
    def tag(self) -> str:
        return f"{self.repository}:{DEFAULT_TAG}"


def _strs(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def parse_image(name: str, text: str, source: str = "") -> ImageDef:
    where = source or f"{name}/image.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{where}: not valid TOML: {err}") from None
    if not data.get("base"):
        raise UserError(f"{where}: missing field: base", hint='e.g. base = "debian-12"')
    files = []
    for entry in data.get("files", []):
        if not isinstance(entry, dict) or "src" not in entry or "dest" not in entry:
            raise UserError(f"{where}: each [[files]] needs src and dest")
        src = str(entry["src"])
        if PurePosixPath(src).is_absolute() or ".." in PurePosixPath(src).parts:
            raise UserError(f"{where}: file src {src!r} must stay inside the image directory")
        dest = str(entry["dest"])
        if not dest.startswith("/"):
            raise UserError(f"{where}: file dest {dest!r} must be an absolute path")
        files.append(FileSpec(src, dest, str(entry.get("mode", ""))))
    user = str(data.get("user", ""))
    if user and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise UserError(f"{where}: invalid user name {user!r}")
    labels = data.get("labels", {})
    if not isinstance(labels, dict):
        raise UserError(f"{where}: 'labels' must be a table")
    return ImageDef(
        name=validate_name(name, "image name"),
        description=str(data.get("description", name)),
        base=str(data["base"]),
        packages=_strs(data, "packages", where),
        locale=str(data.get("locale", "C.UTF-8")),
        timezone=str(data.get("timezone", "Etc/UTC")),
        user=user,
        ssh=bool(data.get("ssh", True)),
        netwait=bool(data.get("netwait", False)),
        enable=_strs(data, "enable", where),
        mask=_strs(data, "mask", where),
        run=_strs(data, "run", where),
        files=tuple(files),
        cmd=_strs(data, "cmd", where) or ("/sbin/init",),
        stop_signal=str(data.get("stop_signal", "SIGRTMIN+3")),
        expose=tuple(int(p) for p in data.get("expose", ())),
        extra_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
    )


def load_image(images_dir: Path, name: str) -> ImageDef:
    path = images_dir / validate_name(name, "image name") / "image.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.parent.name for p in images_dir.glob("*/image.toml")))
        raise UserError(f"unknown image {name!r}", hint=f"known images: {known or 'none'}")
    return parse_image(name, path.read_text(encoding="utf-8"), str(path))


def list_image_defs(images_dir: Path) -> list[ImageDef]:
    return [load_image(images_dir, p.parent.name) for p in sorted(images_dir.glob("*/image.toml"))]


# --- build context --------------------------------------------------------------------------

SSH_HOSTKEYS_UNIT = "devbox-ssh-hostkeys.service"
# a drop-in of the image's sshd unit: sshd starts with systemd, not after basic.target
SSH_EARLY_DROPIN = "devbox-ssh-early.conf"
# Generators with nothing to find in an unprivileged container, masked by each image (the base
# masks the disk and kernel-command-line ones, bootstrap_plan.CONTAINER_MASKED_GENERATORS): no
# fstab entry can be mounted without CAP_SYS_ADMIN, and the console getty is masked, so the getty
# generator only reads the host's kernel command line. ~0.05 s of every boot before sshd.
IMAGE_MASKED_GENERATORS = ("systemd-fstab-generator", "systemd-getty-generator")
# Units masked by each image. systemd-sysusers makes the system users its sysusers.d files name:
# every package made its own when it was installed (its postinst runs systemd-sysusers on its
# file), so at each boot it only re-reads the account files: ~80 ms of CPU of a ~450 ms boot
# (measured: one container restarted 4-5 times, cgroup CPU to sshd's banner), times every clone.
IMAGE_MASKED_UNITS = ("systemd-sysusers.service",)
NETWAIT_FILES = ("devbox-net-wait", "devbox-net-wait.service")


def dockerfile_context(
    image: ImageDef, base_ref: str, family: str, netwait_present: bool
) -> dict[str, Any]:
    """What ``templates/Dockerfile.j2`` sees."""
    if not re.fullmatch(r"[A-Za-z0-9_.@-]+", image.locale):
        raise UserError(f"image {image.name}: invalid locale {image.locale!r}")
    if not re.fullmatch(r"SIG[A-Z0-9+]+", image.stop_signal):
        raise UserError(f"image {image.name}: invalid stop_signal {image.stop_signal!r}")
    if not re.fullmatch(r"[A-Za-z0-9_+/-]+", image.timezone):
        raise UserError(f"image {image.name}: invalid timezone {image.timezone!r}")
    return {
        "name": image.name,
        "description": image.description,
        "base_ref": base_ref,
        "family": family,
        "packages": list(image.packages),
        "locale": image.locale,
        "locale_gen": image.locale not in ("C.UTF-8", "C", "POSIX"),
        "timezone": image.timezone,
        "user": image.user,
        "ssh": image.ssh,
        "ssh_unit": SSH_HOSTKEYS_UNIT,
        "ssh_early": SSH_EARLY_DROPIN,
        "masked_generators": list(IMAGE_MASKED_GENERATORS),
        "sshd_unit": "ssh.service" if family == "debian" else "sshd.service",
        "netwait": image.netwait and netwait_present,
        "netwait_files": list(NETWAIT_FILES),
        "enable": list(image.enable),
        "mask": [*IMAGE_MASKED_UNITS, *(u for u in image.mask if u not in IMAGE_MASKED_UNITS)],
        "run": list(image.run),
        "files": [{"src": f"files/{f.src}", "dest": f.dest, "mode": f.mode} for f in image.files],
        "cmd": list(image.cmd),
        "stop_signal": image.stop_signal,
        "expose": list(image.expose),
    }


def context_digest(files: Mapping[str, bytes], base_id: str) -> str:
    """sha256 over the build context (path + content) and the base image id."""
    h = hashlib.sha256()
    h.update(f"base={base_id}\n".encode())
    for path in sorted(files):
        data = files[path]
        h.update(f"{path}\0{len(data)}\0".encode())
        h.update(data)
    return "sha256:" + h.hexdigest()


def image_labels(
    image: ImageDef, base_name: str, base_ref: str, digest: str, built_at: str, version: str
) -> dict[str, str]:
    labels = {
        f"{LABEL_PREFIX}kind": "image",
        f"{LABEL_PREFIX}name": image.name,
        f"{LABEL_PREFIX}base": base_name,
        f"{LABEL_PREFIX}from": base_ref,
        f"{LABEL_PREFIX}time": built_at,
        f"{LABEL_PREFIX}version": version,
        f"{LABEL_PREFIX}inputs-digest": digest,
    }
    labels.update(dict(image.extra_labels))
    return labels


def image_ref(name: str, registry: str = "") -> str:
    """``dev`` -> ``devbox/dev:latest`` (``REG:PORT/devbox/dev:latest`` with a registry).

    A name that already holds a '/' or ':' is taken as a full reference.
    """
    if "/" in name or ":" in name:
        ref = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:{DEFAULT_TAG}"
    else:
        ref = f"{REPOSITORY_PREFIX}/{name}:{DEFAULT_TAG}"
    if registry and not ref.startswith(registry + "/"):
        ref = f"{registry}/{ref}"
    return ref


def image_tags(image: ImageDef, registry: str = "") -> list[str]:
    tags = [image.tag]
    if registry:
        tags.append(f"{registry}/{image.tag}")
    return tags


# --- progress events ------------------------------------------------------------------------


def build_step(line: str) -> tuple[int, int, str] | None:
    """``Step 3/12 : RUN ...`` -> (3, 12, 'RUN ...')."""
    m = _STEP_RE.fullmatch(line.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3)


@dataclass
class LayerProgress:
    """Per-layer progress of a push or pull, summed for one bar."""

    layers: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    DONE = (
        "Pushed",
        "Layer already exists",
        "Pull complete",
        "Already exists",
        "Download complete",
        "Mounted from",
    )

    def update(self, event: Mapping[str, Any]) -> bool:
        """Feed one decoded engine event; True when it was about a layer."""
        layer = event.get("id")
        status = str(event.get("status", ""))
        if not layer or not status:
            return False
        if (
            status.startswith(("The push refers", "Pulling from", "Digest:", "Status:"))
            or ": digest: " in status
        ):
            return False
        detail = event.get("progressDetail") or {}
        cur, tot, _ = self.layers.get(str(layer), (0, 0, ""))
        if isinstance(detail, dict) and detail.get("total"):
            cur, tot = int(detail.get("current", 0)), int(detail["total"])
        if status.startswith(self.DONE):
            cur = tot = max(tot, cur, 1)
        cur = min(cur, tot)
        self.layers[str(layer)] = (cur, tot, status)
        return True

    @property
    def done(self) -> int:
        return sum(1 for _c, _t, s in self.layers.values() if s.startswith(self.DONE))

    @property
    def totals(self) -> tuple[int, int]:
        cur = sum(c for c, _t, _s in self.layers.values())
        tot = sum(t for _c, t, _s in self.layers.values())
        return cur, tot

    def summary(self) -> str:
        cur, tot = self.totals
        return f"{self.done}/{len(self.layers)} layers, {cur / 1e6:.1f}/{tot / 1e6:.1f} MB"
