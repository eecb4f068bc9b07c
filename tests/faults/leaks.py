"""The one leak checker of the fault suite.

:func:`snapshot` records what a devbox root has before a case (links hanging off the lab
uplink, network namespaces, mounts under the root, lease records, and a sha256 of every file of
every /opt there is); :func:`check` compares after the case and returns every object that
should not be there, by kind, plus every /opt file that was lost or changed.

Kinds: ``container`` (a devbox container of this root that is not expected), ``paused`` (any
container of this root left paused), ``macvlan`` (a host link on the lab uplink, or a devbox
``dbx*`` temporary link, new since the snapshot), ``netns`` (a devbox release namespace that
stays), ``mount`` (a mount under the root that no expected container explains), ``lease`` (a
NIC record of a container that is not expected), ``lock`` (a name/net lock held, or a lease
owner lock of a container that is not expected), ``cgroup`` (``/sys/fs/cgroup/*/devbox/<name>``
or ``devbox-view/<name>`` of a container that is gone), ``record`` (``<root>/containers/<name>``
or an SSH config entry of a container that is gone).
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import RUN_ID

KINDS = ("container", "paused", "macvlan", "netns", "mount", "lease", "lock", "cgroup", "record")


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tree_sums(top: Path) -> dict[str, str]:
    """relative path -> sha256 of every regular file under ``top`` (links not followed)."""
    out: dict[str, str] = {}
    if not top.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(top):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                continue
            try:
                out[str(p.relative_to(top))] = sha256(p)
            except OSError:
                continue
    return out


def opt_dirs(root: Path) -> dict[str, Path]:
    """name -> /opt dir of every container dir of the root (clones: their merged overlay)."""
    base = root / "containers"
    out: dict[str, Path] = {}
    if base.is_dir():
        for d in sorted(base.iterdir()):
            for sub in ("opt", "merged"):
                if (d / sub).is_dir():
                    out[d.name] = d / sub
                    break
    return out


def records_sums(root: Path) -> dict[str, str]:
    """Every devbox record (JSON) under the root: relative path -> sha256."""
    out: dict[str, str] = {}
    for pattern in ("containers/*/*.json", "leases/*.json", "snapshots/*/*.json"):
        for p in sorted(root.glob(pattern)):
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = sha256(p)
    return out


def _uplink_index(uplink: str) -> int | None:
    from devbox.adapters.net import netlink

    for li in netlink.links():
        if li.name == uplink:
            return li.index
    return None


def _host_links(uplink: str) -> set[str]:
    from devbox.adapters.net import netlink

    idx = _uplink_index(uplink)
    links = netlink.links()
    return {
        li.name
        for li in links
        if (idx is not None and li.link == idx and li.name != uplink)
        or (RUN_ID in li.name and li.kind == "macvlan")
    }


def _release_netns() -> set[str]:
    from devbox.adapters.net import netns

    return {n for n in netns.names() if n.startswith("dbxrel") or RUN_ID in n}


def _mounts_under(root: Path) -> set[str]:
    from devbox.adapters.host import mounts

    prefix = str(root).rstrip("/") + "/"
    return {m.target for m in mounts.mounts() if m.target.startswith(prefix)}


@dataclass
class Snapshot:
    root: Path
    uplink: str
    links: set[str]
    netns: set[str]
    mounts: set[str]
    opts: dict[str, dict[str, str]]  # name -> sums of its /opt
    taken: float = field(default_factory=time.time)


def snapshot(root: Path, uplink: str) -> Snapshot:
    return Snapshot(
        root,
        uplink,
        _host_links(uplink),
        _release_netns(),
        _mounts_under(root),
        {n: tree_sums(p) for n, p in opt_dirs(root).items()},
    )


@dataclass
class Report:
    leaks: dict[str, list[str]]
    lost: list[str]  # "<name>:<file>" lost or changed in an /opt that existed before

    @property
    def clean(self) -> bool:
        return not self.lost and not any(self.leaks.values())

    def describe(self) -> str:
        parts = [f"{k}: {v}" for k, v in self.leaks.items() if v]
        if self.lost:
            parts.append(f"/opt files lost: {self.lost[:20]}")
        return "; ".join(parts) or "clean"


def _cgroup_dirs(name: str) -> list[str]:
    out: list[str] = []
    for pattern in (
        f"/sys/fs/cgroup/devbox/{name}",
        f"/sys/fs/cgroup/devbox-view/{name}",
        f"/sys/fs/cgroup/*/devbox/{name}",
        f"/sys/fs/cgroup/*/devbox-view/{name}",
    ):
        out += glob.glob(pattern)
    return out


def check(
    snap: Snapshot,
    expected: set[str],
    gone: set[str],
    home: Path | None = None,
    client: Any = None,
    settle: float = 3.0,
) -> Report:
    """What is there that should not be, after a case.

    ``expected``: containers that should exist (and keep their /opt); ``gone``: names the case
    made that must have left nothing (container, records, mounts, cgroups, SSH entry)."""
    from devbox import locks
    from devbox.adapters.docker import engine
    from devbox.model import labels as L

    root = snap.root
    leaks: dict[str, list[str]] = {k: [] for k in KINDS}
    cl = client or engine.client()
    for ctr in cl.containers.list(all=True, filters={"label": f"{L.ROOT}={root}"}):
        if ctr.name not in expected:
            leaks["container"].append(ctr.name)
        if ctr.status == "paused":
            leaks["paused"].append(ctr.name)
    for name in gone - expected:
        try:
            cl.containers.get(name)
        except Exception:  # noqa: BLE001 - gone, as it should be
            continue
        if name not in leaks["container"]:
            leaks["container"].append(name)

    # transient objects of another command (another engineer's run) go away on their own:
    # what is new and still there after ``settle`` seconds is a leak
    def new_links() -> set[str]:
        return _host_links(snap.uplink) - snap.links

    def new_netns() -> set[str]:
        return _release_netns() - snap.netns

    links, nss = new_links(), new_netns()
    if links or nss:
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and (links or nss):
            time.sleep(0.2)
            links &= new_links()
            nss &= new_netns()
    leaks["macvlan"] = sorted(links)
    leaks["netns"] = sorted(nss)

    exp_prefixes = tuple(str(root / "containers" / n) + "/" for n in expected)
    own = {str(root / "containers")}  # devbox's nosuid bind of its subtree (devbox.migrate)
    for mp in sorted(_mounts_under(root) - snap.mounts - own):
        if not (mp + "/").startswith(exp_prefixes):
            leaks["mount"].append(mp)
    for mp in sorted(_mounts_under(root)):
        if any(mp.startswith(str(root / "containers" / n) + "/") for n in gone - expected):
            if mp not in leaks["mount"]:
                leaks["mount"].append(mp)

    leases_dir = root / "leases"
    if leases_dir.is_dir():
        for p in sorted(leases_dir.glob("*.json")):
            key = p.name[: -len(".json")]
            if RUN_ID not in key:
                continue  # a hand-labelled container of another test run (any daemon's)
            if key.rsplit(".", 1)[0] not in expected:
                leaks["lease"].append(key)

    lock_dir = root / "run" / "locks"
    for kind in ("name", "net", "owner"):
        d = lock_dir / kind
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.lock")):
            from urllib.parse import unquote

            key = unquote(p.name[: -len(".lock")])
            if RUN_ID not in key:
                continue  # another test run's (see above)
            if kind == "owner" and key.rsplit(".", 1)[0] in expected:
                continue  # the daemon holds the lease of a live container
            if locks.is_held(lock_dir, kind, key):
                leaks["lock"].append(f"{kind}/{key}")

    for name in sorted(gone - expected):
        leaks["cgroup"] += _cgroup_dirs(name)
        if os.path.lexists(root / "containers" / name):
            leaks["record"].append(f"containers/{name}")
        if home is not None:
            entry = home / ".ssh" / "config.d" / "devbox"
            if entry.exists() and f"Host {name}\n" in entry.read_text():
                leaks["record"].append(f"ssh config entry {name}")

    lost: list[str] = []
    for name, sums in snap.opts.items():
        if name not in expected:
            continue
        now = tree_sums(opt_dirs(root).get(name, root / "containers" / name / "opt"))
        for rel, digest in sums.items():
            if f"/{rel}".count("/.git/") and rel in now:
                continue  # a checkout's own metadata: an update rewrites it
            if now.get(rel) != digest:
                lost.append(f"{name}:{rel}")
    return Report(leaks, lost)
