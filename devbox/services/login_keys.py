"""The login user's ``authorized_keys`` in a container devbox makes or clones: devbox's own
key (for its own connections), the owner's public keys (sent by their client), the team's
(``roles/dockeruser/ssh/*.pub``). Put in before the first boot, as files of the container's
layer, with the owner and mode sshd's StrictModes wants."""

from __future__ import annotations

from devbox.adapters import ssh
from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.model import container_plan
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.state.container_records import devbox_key, home_dir

Files = dict[str, tuple[bytes, int, int, int]]
Dirs = dict[str, tuple[int, int, int]]


def caller_public_keys(cfg: Config) -> list[str]:
    """The public keys in the ``~/.ssh`` of the HOME this process runs with."""
    from devbox.adapters.host import sshconfig

    return sshconfig.public_keys(home_dir(cfg))


def team_public_keys() -> list[str]:
    return [p.read_text() for p in sorted((role_dir("dockeruser") / "ssh").glob("*.pub"))]


def authorized_keys_text(layout: Layout, owner_keys: list[str]) -> str:
    public = ssh.ensure_keypair(devbox_key(layout))
    return container_plan.authorized_keys([public, *owner_keys, *team_public_keys()])


def files_for(user: str, uid: int, gid: int, text: str) -> tuple[Files, Dirs]:
    home = container_plan.home_of(user)
    return (
        {f"{home}/.ssh/authorized_keys": (text.encode(), 0o600, uid, gid)},
        {f"{home}/.ssh": (0o700, uid, gid)},
    )


def image_ids(name: str, user: str) -> tuple[int, int] | None:
    """``user``'s ids from the /etc/passwd of created (not yet started) container ``name``,
    read through the engine (a plain file only; a link or anything odd: None)."""
    data = dc.read_file(name, "/etc/passwd")
    return container_plan.passwd_ids(data.decode(errors="replace"), user) if data else None
