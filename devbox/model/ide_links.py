"""Links that open a dev container in a desktop IDE through the SSH entry devbox writes
(``~/.ssh/config.d/devbox``: ``Host NAME``), so the IDE connects with the same address, user,
keys and recorded host keys as ``ssh NAME``. Pure: no I/O."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import quote, urlencode

VSCODE = "vscode"
JETBRAINS = "jetbrains"
ECLIPSE = "eclipse"
IDES = (VSCODE, JETBRAINS, ECLIPSE)

DEFAULT_PROJECT = "/opt/src"  # branches.BranchEntry.path's default ("src" under /opt)
OPT = "/opt"
ECLIPSE_BINARY = "/opt/eclipse/eclipse"  # an Eclipse unpacked into the branch's /opt seed


@dataclass(frozen=True)
class IdeLink:
    ide: str
    host: str  # the SSH config Host alias (the container's name)
    project: str  # the folder the IDE opens, as the container sees it
    link: str  # a URL for the desktop's opener, or (eclipse) a command line
    kind: str  # "url" or "command"

    def to_dict(self) -> dict[str, str]:
        return {
            "ide": self.ide,
            "host": self.host,
            "project": self.project,
            "link": self.link,
            "kind": self.kind,
        }


def _check(host: str, project: str) -> None:
    if not host or any(ch.isspace() or ch in "/#&?%@" for ch in host):
        raise ValueError(f"not an SSH host alias: {host!r}")
    if not project.startswith("/") or any(ch.isspace() for ch in project) or ".." in project:
        raise ValueError(f"not an absolute folder: {project!r}")


def vscode(host: str, project: str = DEFAULT_PROJECT) -> IdeLink:
    """VS Code Remote-SSH: ``vscode://vscode-remote/ssh-remote+HOST/FOLDER``; HOST is looked
    up in the user's SSH config like ``ssh HOST`` does."""
    _check(host, project)
    link = f"vscode://vscode-remote/ssh-remote+{quote(host, safe='')}{quote(project)}"
    return IdeLink(VSCODE, host, project, link, "url")


def jetbrains(host: str, project: str = DEFAULT_PROJECT, user: str = "dev") -> IdeLink:
    """JetBrains Gateway's SSH connect link. Gateway handles ``jetbrains-gateway://`` links
    (JetBrains help, "Connect and work with JetBrains Gateway":
    https://www.jetbrains.com/help/idea/remote-development-a.html); its SSH parameters
    (``type=ssh``, ``host``, ``port``, ``user``, ``projectPath``, ``deploy=false``: use the
    backend IDE already on the host, or let Gateway offer one) are not listed there, so these
    are the ones DevPod's Gateway integration sends (loft-sh/devpod, its JetBrains provider:
    ``jetbrains-gateway://connect#idePath=..&projectPath=..&host=..&port=..&user=..&type=ssh
    &deploy=false``). ``host`` is the SSH config alias, so Gateway's OpenSSH config parsing
    finds the address and keys."""
    _check(host, project)
    if not user or any(ch.isspace() or ch in "/#&?%@" for ch in user):
        raise ValueError(f"not a user name: {user!r}")
    query = urlencode(
        {
            "host": host,
            "type": "ssh",
            "deploy": "false",
            "projectPath": project,
            "user": user,
            "port": "22",
        },
        safe="/",
    )
    return IdeLink(JETBRAINS, host, project, f"jetbrains-gateway://connect#{query}", "url")


def eclipse(host: str, project: str = DEFAULT_PROJECT, binary: str = ECLIPSE_BINARY) -> IdeLink:
    """Eclipse has no remote link: the container's own Eclipse (from its /opt), shown here
    over X11 forwarding of the same SSH entry."""
    _check(host, project)
    _check(host, binary)
    argv = ["ssh", "-X", host, binary]
    return IdeLink(ECLIPSE, host, project, shlex.join(argv), "command")


def project_folder(checkout_path: str | None) -> str:
    """The folder an IDE opens: the branch's checkout (``/opt/<path>``), else /opt."""
    if not checkout_path or not (checkout_path == OPT or checkout_path.startswith(OPT + "/")):
        return OPT
    return checkout_path


def build(ide: str, host: str, project: str, user: str = "dev") -> IdeLink:
    if ide == VSCODE:
        return vscode(host, project)
    if ide == JETBRAINS:
        return jetbrains(host, project, user)
    if ide == ECLIPSE:
        return eclipse(host, project)
    raise ValueError(f"unknown IDE {ide!r} (one of {', '.join(IDES)})")
