"""Another host's devbox service over SSH (``devbox --host NAME``), as the docker SDK reaches an
``ssh://`` host (``docker/transport/sshconn.py``): one SSH connection with the caller's own
identity, and an HTTP connection per SSH channel, each channel running ``devbox common
dial-stdio`` there, which joins it to that host's service socket. The service there sees the
SSH user as the caller: their owners, quotas and groups apply. Nothing of this machine's
environment travels (no settings header, even for root).

paramiko is imported only when a ``--host`` is used (:mod:`devbox.adapters.ssh_channel`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import urllib3.connection
import urllib3.connectionpool

from devbox.errors import DevboxError, NotReadyError, OperationFailed
from devbox.model.hosts import HostEntry

if TYPE_CHECKING:
    from devbox.adapters.ssh_channel import SshLink

CONNECT_TIMEOUT = 15.0  # seconds for the TCP connect, the SSH handshake and the login


class _ChannelConnection(urllib3.connection.HTTPConnection):
    """HTTP over one SSH channel (its ``sock``), opened when the request is first sent."""

    def __init__(self, link: SshLink, command: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.link = link
        self.command = command
        self.seconds = timeout

    def connect(self) -> None:
        self.sock = self.link.open(self.command, self.seconds)


class _ChannelPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, link: SshLink, command: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=4)
        self.link = link
        self.command = command
        self.seconds = timeout

    def _new_conn(self) -> _ChannelConnection:
        return _ChannelConnection(self.link, self.command, self.seconds)


class SshTransport:
    """The pools :class:`devbox.api.client.Client` sends through for host ``entry``. The SSH
    login happens here, at once: an unknown or changed host key is refused (exit 3) before
    any request is sent."""

    def __init__(self, entry: HostEntry, home: Path, timeout: float = CONNECT_TIMEOUT) -> None:
        from devbox.adapters import ssh_channel

        self.entry = entry
        self.command = shlex.join(entry.dial_argv())
        self.link = ssh_channel.connect(
            entry.address, entry.port, entry.user, home, timeout, name=entry.name
        )

    @property
    def where(self) -> str:
        return self.link.where

    def pool(self, timeout: float | None) -> _ChannelPool:
        return _ChannelPool(self.link, self.command, timeout)

    def unreachable(self, err: Exception) -> DevboxError:
        """What a failed request over SSH means: most often that dial-stdio ended there (no
        devbox, no service, no permission), which its exit status and stderr say."""
        if isinstance(err, DevboxError):
            return err
        code, said = self.link.last_words()
        if code is None:
            return OperationFailed(f"{self.where}: the devbox service's answer broke off: {err}")
        lines = [line for line in said.splitlines() if line.strip()]
        if code == 127 or any("not found" in line and "devbox" in line for line in lines):
            return NotReadyError(
                f"{self.where}: no devbox command there ({self.entry.devbox!r})",
                hint=f"install devbox there, or name its command: devbox common hosts add "
                f"{self.entry.name} --ssh {self.entry.user}@{self.entry.address} --devbox CMD",
            )
        errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
        hints = [line[len("hint: ") :] for line in lines if line.startswith("hint: ")]
        message = (errors or lines or [f"devbox dial-stdio exited {code}"])[0]
        return NotReadyError(f"{self.where}: {message}", hint=hints[0] if hints else None)

    def close(self) -> None:
        self.link.close()


def transport_for(entry: HostEntry, environ: Mapping[str, str]) -> SshTransport:
    """The caller's own SSH files are under their HOME (as paramiko and ssh look)."""
    home = Path(environ.get("HOME") or Path.home())
    return SshTransport(entry, home)
