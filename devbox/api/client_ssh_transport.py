"""Another host's devbox service over SSH (``devbox --host NAME``), as the docker SDK reaches an
``ssh://`` host (``docker/transport/sshconn.py``): one SSH connection with the caller's own
identity, and an HTTP connection per SSH channel, each channel running ``devbox common
dial-stdio`` there, which joins it to that host's service socket. The service there sees the
SSH user as the caller: their owners, quotas and groups apply. Nothing of this machine's
environment travels (no settings header, even for root).

paramiko is imported only when a ``--host`` is used (:mod:`devbox.adapters.ssh_channel`).
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.api.http_pool import Pool
from devbox.errors import DevboxError, NotReadyError, OperationFailed
from devbox.model.hosts import HostEntry

if TYPE_CHECKING:
    pass

CONNECT_TIMEOUT = 15.0  # seconds for the TCP connect, the SSH handshake and the login


class _ChannelReader(io.RawIOBase):
    """An SSH channel's stdout as a raw stream (``io.BufferedReader`` over it gives http.client
    the ``read1`` a streamed reply is read with: paramiko's own channel file has none)."""

    def __init__(self, chan: Any) -> None:
        self._chan = chan

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._chan.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ChannelSocket:
    """An SSH channel as http.client uses a socket: sendall, makefile('rb'), fileno (for the
    pool's check of an idle connection), close."""

    def __init__(self, chan: Any) -> None:
        self._chan = chan

    def sendall(self, data: bytes) -> None:
        self._chan.sendall(data)

    def makefile(self, mode: str = "rb", buffering: int = -1) -> io.BufferedReader:
        return io.BufferedReader(_ChannelReader(self._chan))

    def fileno(self) -> int:
        return int(self._chan.fileno())

    def settimeout(self, seconds: float | None) -> None:
        self._chan.settimeout(seconds)

    def close(self) -> None:
        self._chan.close()


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

    def pool(self, timeout: float | None) -> Pool:
        """HTTP connections each over a new SSH channel running dial-stdio there, opened when
        a request is first sent."""
        return Pool(lambda seconds: _ChannelSocket(self.link.open(self.command, seconds)), timeout)

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
