"""The host's user database: who a socket peer is (``SO_PEERCRED`` gives the uid the kernel
vouches for; names and groups come from the passwd and group databases, not from anything
the peer says)."""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct

from devbox.model.owners import Caller

_PEERCRED = struct.Struct("3i")  # pid, uid, gid


def peer_ids(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return pid, uid, gid


def group_names(user: str, gid: int) -> frozenset[str]:
    names: set[str] = set()
    try:
        ids = os.getgrouplist(user, gid)
    except (KeyError, OSError):
        ids = [gid]
    for one in ids:
        try:
            names.add(grp.getgrgid(one).gr_name)
        except KeyError:
            continue
    return frozenset(names)


def caller(uid: int, gid: int, admin_group: str) -> Caller:
    """The Caller of uid ``uid``: its name, home and groups from the user database; admin
    when root or in ``admin_group``. A uid with no passwd entry is named by its number."""
    try:
        entry = pwd.getpwuid(uid)
        name, home, primary = entry.pw_name, entry.pw_dir, entry.pw_gid
    except KeyError:
        name, home, primary = str(uid), "", gid
    groups = group_names(name, primary) if name != str(uid) else frozenset()
    return Caller(
        uid=uid,
        gid=primary,
        user=name,
        home=home,
        groups=groups,
        admin=uid == 0 or admin_group in groups,
    )


def group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
