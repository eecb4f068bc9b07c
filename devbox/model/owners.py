"""Who may act on a container: its owner (recorded in its labels at make), root, and the
members of the admin group. Pure: the caller is resolved from the socket's peer credentials
by the service (``devbox.adapters.host.accounts``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devbox.errors import UserError
from devbox.model import labels


@dataclass(frozen=True)
class Caller:
    """The user a request comes from."""

    uid: int
    gid: int
    user: str
    home: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False  # root, or a member of the admin group

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "gid": self.gid,
            "user": self.user,
            "home": self.home,
            "groups": sorted(self.groups),
            "admin": self.admin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Caller:
        return cls(
            uid=int(data["uid"]),
            gid=int(data["gid"]),
            user=str(data["user"]),
            home=str(data.get("home", "")),
            groups=frozenset(data.get("groups", ())),
            admin=bool(data.get("admin", False)),
        )


ROOT = Caller(uid=0, gid=0, user="root", home="/root", admin=True)


def owner_labels(caller: Caller) -> dict[str, str]:
    return {labels.OWNER: caller.user, labels.OWNER_UID: str(caller.uid)}


def owner_of(lbls: Mapping[str, str]) -> tuple[str, int]:
    """(user, uid) of a container; one made before owners were recorded is root's."""
    raw = lbls.get(labels.OWNER_UID, "")
    try:
        uid = int(raw)
    except ValueError:
        return "root", 0
    return lbls.get(labels.OWNER, "") or str(uid), uid


def may_act(caller: Caller, lbls: Mapping[str, str]) -> bool:
    return caller.admin or owner_of(lbls)[1] == caller.uid


def require_may_act(caller: Caller, name: str, lbls: Mapping[str, str], action: str) -> None:
    """UserError "container X belongs to Y" unless ``caller`` may act on it."""
    if may_act(caller, lbls):
        return
    user, _uid = owner_of(lbls)
    raise UserError(
        f"container {name} belongs to {user}",
        hint=f"only {user} or an admin (group devbox-admin) may {action} it",
    )


def require_admin(caller: Caller, what: str) -> None:
    if not caller.admin:
        raise UserError(
            f"{what} is for admins (root or group devbox-admin); {caller.user} is not one",
            hint="ask the host's admin",
        )
