"""The login user's ``authorized_keys`` in a container devbox makes or clones: devbox's own
key (for its own connections), the owner's public keys (sent by their client), the team's
(``roles/dockeruser/ssh/*.pub``). Put in before the first boot, as files of the container's
layer, with the owner and mode sshd's StrictModes wants."""

from __future__ import annotations

from pathlib import Path

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


def image_ids(name: str, user: str, layout: Layout | None = None) -> tuple[int, int] | None:
    """``user``'s ids from the /etc/passwd of created (not yet started) container ``name``,
    read through the engine (a plain file only; a link or anything odd: None). With a
    ``layout``, the file is kept per image id in ``<root>/run/image-passwd`` (an image id names
    its content, which never changes): reading it through the engine costs ~0.1 s of a make."""
    cached = _passwd_cache(layout, name) if layout is not None else None
    text = None
    if cached is not None:
        try:
            text = cached.read_text(errors="replace")
        except OSError:
            text = None
    if text is None:
        data = dc.read_file(name, "/etc/passwd")
        if not data:
            return None
        text = data.decode(errors="replace")
        if cached is not None:
            from devbox.jsonfile import write_text

            cached.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_text(cached, text)
    return container_plan.passwd_ids(text, user)


def _passwd_cache(layout: Layout, name: str) -> Path | None:
    """Where the /etc/passwd of ``name``'s image is kept (None: no image id to name it by)."""
    import re

    from devbox.adapters.docker.engine import container_attrs

    attrs = container_attrs(name) or {}
    image = str(attrs.get("Image") or "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", image):
        return None
    return layout.run / "image-passwd" / image.removeprefix("sha256:")
