"""Pure planning for clones: names, the sysprep plan, snapshot naming, ``--stopped-for`` durations.

No I/O here. What virt-sysprep does for a VM clone, spelt out as data: which files a clone must
not inherit from its source (listed once per snapshot, deleted in each clone's own layer; or,
with a storage driver other than overlay2, once in a derived image layer) and which files each
clone gets of its own before it first boots.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import PurePosixPath
from typing import Any

from devbox.errors import UserError
from devbox.model.naming import MAX_LEN, validate_name
from devbox.model.vmstyle import hosts_file

MAX_COUNT = 200
MAX_JOBS = 64

# ---------------------------------------------------------------- clone names


def default_prefix(source: str) -> str:
    return f"{source}-c"


def _number_re(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}(\d+)$")


def clone_names(
    source: str, count: int, existing: Iterable[str], prefix: str | None = None
) -> list[str]:
    """``count`` new clone names: ``<src>-c<N>`` (or ``<prefix><N>``), numbered after the highest
    number already taken, so a second ``clone --count 5`` adds c6..c10. Validated as DNS labels."""
    validate_name(source, "source container name")
    if count < 1 or count > MAX_COUNT:
        raise UserError(f"--count must be between 1 and {MAX_COUNT} (got {count})")
    if prefix is None:
        prefix = default_prefix(source)
    elif not prefix or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", prefix):
        raise UserError(
            f"invalid --prefix {prefix!r}",
            hint="lowercase letters, digits and '-', starting with a letter or digit",
        )
    pattern = _number_re(prefix)
    taken = set(existing)
    highest = 0
    for name in taken:
        m = pattern.fullmatch(name)
        if m:
            highest = max(highest, int(m.group(1)))
    names: list[str] = []
    number = highest
    while len(names) < count:
        number += 1
        name = f"{prefix}{number}"
        if name in taken:
            continue
        if len(name) > MAX_LEN:
            raise UserError(
                f"clone name '{name[:20]}...' would be {len(name)} characters long (max {MAX_LEN})",
                hint="pick a shorter one with --prefix",
            )
        names.append(validate_name(name, "clone name"))
    return names


def require_free_names(names: Iterable[str], existing: Iterable[str]) -> list[str]:
    """Clone names chosen elsewhere (``clone --hosts``: by the client, over every host's
    names): each a valid name, none twice, none taken here (exit 2)."""
    names = [validate_name(n, "clone name") for n in names]
    if not names or len(names) > MAX_COUNT:
        raise UserError(f"a clone run makes 1 to {MAX_COUNT} clones (got {len(names)})")
    if len(set(names)) != len(names):
        raise UserError("a clone name is given twice")
    taken = sorted(set(names) & set(existing))
    if taken:
        raise UserError(
            f"taken on this host already: {', '.join(taken)}",
            hint="a container or a kept /opt folder has that name there: remove it "
            "(remove-dev-container NAME --purge) or pick another --prefix",
        )
    return names


SNAPSHOT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def check_snapshot_id(snap_id: str) -> str:
    """A snapshot id another host sent (``<src>-<stamp>-<hex>``: an image tag and a folder
    name): refused (exit 2) unless it is one."""
    if not SNAPSHOT_ID.fullmatch(snap_id or ""):
        raise UserError(f"not a snapshot id: {snap_id[:40]!r}")
    return snap_id


def check_jobs(jobs: int | None, count: int, cpus: int = 2) -> int:
    """How many clones are made at once: ``--jobs`` (1..64), default two per CPU (booting
    systemd is CPU-bound: more at once only queue; measured 11 s with 4 vs 15 s with 20 for 20
    clones on 2 CPUs), at most 16 and at most ``count``."""
    if jobs is None:
        return max(1, min(count, 2 * max(1, cpus), 16))
    if jobs < 1 or jobs > MAX_JOBS:
        raise UserError(f"--jobs must be between 1 and {MAX_JOBS} (got {jobs})")
    return jobs


# ---------------------------------------------------------------- snapshots


def snapshot_id(source: str, when: float, salt: str = "") -> str:
    """``<src>-<yyyymmddhhmmss>-<4 hex>``: one frozen state of SRC (image tag and directory)."""
    import time

    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(when))
    digest = hashlib.sha256(f"{source}:{when}:{salt}".encode()).hexdigest()[:4]
    ident = f"{source}-{stamp}-{digest}"
    if len(ident) > 100:
        ident = f"{source[:60]}-{digest}{stamp}"
    return ident


SNAPSHOT_REPO = "devbox-snapshot"


def snapshot_image(snap_id: str) -> str:
    """The local image holding a snapshot's root filesystem (after sysprep)."""
    return f"{SNAPSHOT_REPO}:{snap_id}"


def snapshot_raw_image(snap_id: str) -> str:
    """The plain ``docker commit`` of SRC, before the sysprep layer (removed once derived)."""
    return f"{SNAPSHOT_REPO}:{snap_id}-raw"


# ---------------------------------------------------------------- sysprep


@dataclass(frozen=True)
class SysprepPlan:
    """What a clone must not inherit, and what each clone gets of its own.

    ``remove``: ``find -path`` patterns deleted once, in the snapshot's sysprep layer;
    ``empty``: files each clone gets empty before it boots (``/etc/machine-id``: systemd writes
    a new id at first boot, which also counts as first boot for ``ConditionFirstBoot`` units);
    ``search_roots``: where ``find`` looks (exist in every OS image).
    """

    remove: tuple[str, ...]
    empty: tuple[str, ...]
    search_roots: tuple[str, ...] = ("/etc", "/var")


SYSPREP = SysprepPlan(
    remove=(
        # SSH host keys: each clone gets fresh ones before it boots (see clone_files)
        "/etc/ssh/ssh_host_*",
        # the dbus copy of the machine id (dbus' tmpfiles.d recreates it as a link to
        # /etc/machine-id; a stale copy would give every clone the source's id)
        "/var/lib/dbus/machine-id",
        # DHCP client state: a clone must ask for its own lease, not renew SRC's
        "/var/lib/dhcp/*",
        "/var/lib/dhclient/*",
        "/var/lib/udhcpc/*",
        "/var/lib/NetworkManager/*.lease",
        "/var/lib/NetworkManager/*.leases",
        "/var/lib/systemd/network/*",
        # machine-specific secrets and seeds
        "/var/lib/systemd/random-seed",
        "/var/lib/systemd/credential.secret",
        # old logs: a clone's logs start with its own first boot
        "/var/log/journal/*",
        "/var/log/*.log",
        "/var/log/*.gz",
        "/var/log/*.[0-9]",
        "/var/log/wtmp",
        "/var/log/btmp",
        "/var/log/lastlog",
    ),
    empty=("/etc/machine-id",),
)


def find_argv(plan: SysprepPlan = SYSPREP) -> list[str]:
    """The ``find`` command (exec form, no shell) that deletes ``plan.remove`` in one pass
    (GNU find and busybox alike)."""
    argv = ["find", *plan.search_roots, "-depth", "("]
    for index, pattern in enumerate(plan.remove):
        if index:
            argv.append("-o")
        argv += ["-path", pattern]
    # -exec rm rather than -delete: busybox' find has no -delete
    argv += [")", "-exec", "rm", "-rf", "--", "{}", "+"]
    return argv


def walk_roots(plan: SysprepPlan = SYSPREP) -> list[str]:
    """The directories whose trees hold every path ``plan.remove`` can match: each pattern's
    literal directory prefix (``/var/log/*.log`` -> ``/var/log``), nested ones dropped."""
    roots: set[str] = set()
    for pattern in plan.remove:
        literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        roots.add(literal.rsplit("/", 1)[0] or "/")
    kept: list[str] = []
    for root in sorted(roots):
        if not any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    return kept


def sysprep_removals(paths: Iterable[str], plan: SysprepPlan = SYSPREP) -> list[str]:
    """Of ``paths`` (absolute, as they appear in the snapshot), those the sysprep removes: what
    ``find ROOTS -depth ( -path P ... ) -exec rm -rf`` (:func:`find_argv`) would delete (``*``
    matches ``/`` as in find's ``-path``), without the ones inside an already removed directory.
    """
    from fnmatch import fnmatchcase

    matched = sorted(
        p
        for p in set(paths)
        if any(fnmatchcase(p, pattern) for pattern in plan.remove)
        and any(p == r or p.startswith(r.rstrip("/") + "/") for r in plan.search_roots)
    )
    chosen = set(matched)
    return [
        p for p in matched if not any(str(parent) in chosen for parent in PurePosixPath(p).parents)
    ]


def sysprep_dockerfile(base_image: str, plan: SysprepPlan = SYSPREP) -> str:
    """A one-layer derived image on top of the committed one: one ``find ... -exec rm`` in exec
    form (no shell needed in the image). Emptied files go in per clone (:func:`clone_files`)."""
    import json

    return f"FROM {base_image}\nRUN {json.dumps(find_argv(plan))}\n"


HOST_KEY_TYPES = ("ed25519", "ecdsa")


def host_key_path(kind: str) -> str:
    return f"/etc/ssh/ssh_host_{kind}_key"


def clone_files(
    name: str, host_keys: dict[str, tuple[bytes, bytes]], plan: SysprepPlan = SYSPREP
) -> dict[str, tuple[bytes, int]]:
    """The files one clone gets of its own before first boot: ``{path: (data, mode)}``.

    ``host_keys``: ``{kind: (private OpenSSH PEM, public line)}``, freshly generated for it.
    """
    validate_name(name, "clone name")
    files: dict[str, tuple[bytes, int]] = {
        "/etc/hostname": (f"{name}\n".encode(), 0o644),
        "/etc/hosts": (hosts_file(name).encode(), 0o644),  # the clone's own name
    }
    for path in plan.empty:
        files[path] = (b"", 0o444 if path == "/etc/machine-id" else 0o644)
    for kind, (private, public) in sorted(host_keys.items()):
        if kind not in HOST_KEY_TYPES:
            raise ValueError(f"unknown host key type {kind}")
        files[host_key_path(kind)] = (private, 0o600)
        files[host_key_path(kind) + ".pub"] = (public.rstrip(b"\n") + b"\n", 0o644)
    return files


# ---------------------------------------------------------------- durations


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``1w2d``, ``90m``, ``45s`` -> seconds. A bare number is days."""
    raw = text.strip().lower()
    if not raw:
        raise UserError("empty duration", hint="examples: 30d, 12h, 2w")
    if raw.isdigit():
        return float(int(raw) * 86400)
    pos = 0
    total = 0
    for m in _DURATION.finditer(raw):
        if raw[pos : m.start()].strip():
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or total <= 0:
        raise UserError(
            f"'{text}' is not a duration",
            hint="use a number with a unit: s, m, h, d or w (e.g. 30d, 12h, 1w2d)",
        )
    return float(total)


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass
class CloneResult:
    name: str
    ok: bool
    ip: str = ""
    mac: str = ""
    seconds: float = 0.0
    error: str = ""
    hint: str = ""
    log: str = ""
    # how the client's ssh reaches it (services.container_reach.Reach as a dict): the
    # client writes the SSH entries of the clones from these, asking the service nothing
    reach: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CloneRun:
    source: str
    snapshot: str
    image: str
    snapshot_method: str
    freeze_seconds: float
    seconds: float
    clones: list[CloneResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CloneResult]:
        return [c for c in self.clones if not c.ok]

    def to_dict(self, reach: bool = True) -> dict[str, Any]:
        """As the API sends it; ``reach``: with each clone's SSH facts (a client that did not
        ask for them may not know the field)."""
        data = asdict(self)
        data["clones"] = [c.to_dict() for c in self.clones]
        if not reach:
            for clone in data["clones"]:
                clone.pop("reach", None)
        return data


def run_from_dict(data: dict[str, Any]) -> CloneRun:
    """A :class:`CloneRun` from what a service sent, fields this devbox does not know left
    out (a newer host may send more)."""
    run_keys = {f.name for f in fields(CloneRun)} - {"clones"}
    clone_keys = {f.name for f in fields(CloneResult)}
    return CloneRun(
        **{k: v for k, v in data.items() if k in run_keys},
        clones=[
            CloneResult(**{k: v for k, v in c.items() if k in clone_keys})
            for c in data.get("clones") or []
        ],
    )
