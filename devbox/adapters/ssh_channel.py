"""An SSH connection to another host with the caller's own identity (their agent and
``~/.ssh`` keys, paramiko's defaults), host keys checked against their ``~/.ssh/known_hosts``
and ``/etc/ssh/ssh_known_hosts`` and never accepted blindly (a ``RejectPolicy``), and one
session channel per command run there: the transport docker-py's ``sshconn`` builds for
``ssh://`` hosts. The key check happens in the handshake, before any login or command.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.adapters import ssh_socket
from devbox.errors import NotReadyError

if TYPE_CHECKING:
    import paramiko

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
LAST_WORDS = 5.0  # seconds to wait for a failed command's exit status and stderr


def known_hosts_files(home: Path) -> list[Path]:
    return [home / ".ssh" / "known_hosts", SYSTEM_KNOWN_HOSTS]


def _known_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _fingerprint(key: Any) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class SshLink:
    """One SSH connection (one TCP connection, one login); a channel per command."""

    def __init__(self, client: paramiko.SSHClient, where: str) -> None:
        self.client = client
        self.where = where
        self.channels: list[Any] = []

    def open(self, command: str, timeout: float | None) -> Any:
        """A session channel running ``command`` there: a socket-like object (sendall,
        recv, makefile, settimeout, fileno, close) joined to the command's stdin/stdout."""
        import paramiko

        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise NotReadyError(f"the SSH connection to {self.where} is closed")
        try:
            chan = transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError) as err:
            raise NotReadyError(f"{self.where}: cannot run devbox there over SSH: {err}") from err
        self.channels.append(chan)
        return chan

    def last_words(self) -> tuple[int | None, str]:
        """(exit status, stderr) of the newest channel whose command has ended (or will
        within LAST_WORDS), e.g. a dial-stdio that found no service; (None, "") if none."""
        for chan in reversed(self.channels):
            if chan.status_event.wait(LAST_WORDS if chan is self.channels[-1] else 0):
                err = b""
                for _ in range(64):  # bounded: 256 KiB at most
                    if not chan.recv_stderr_ready():
                        break
                    err += chan.recv_stderr(4096)
                return chan.recv_exit_status(), err.decode(errors="replace").strip()
        return None, ""

    def close(self) -> None:
        self.client.close()


def connect(
    address: str, port: int, user: str, home: Path, timeout: float, name: str = ""
) -> SshLink:
    """Log in as ``user`` at ``address``:``port``; a NotReadyError (exit 3) names what to
    do when the host is unknown, its key changed, the keys are refused or it is not there."""
    import paramiko

    where = f"{user}@{address}" + ("" if port == 22 else f" port {port}")
    label = f"host {name} ({where})" if name else where
    known = _known_name(address, port)

    class Refuse(paramiko.RejectPolicy):
        """RejectPolicy that remembers the key offered (to name its fingerprint)."""

        offered: Any = None

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            self.offered = key
            raise paramiko.SSHException(f"{hostname} is not in known_hosts")

    policy = Refuse()

    quiet = logging.getLogger("paramiko")
    if not quiet.isEnabledFor(logging.DEBUG):  # its tracebacks say what the error here says
        quiet.setLevel(logging.CRITICAL)
    client = paramiko.SSHClient()
    for path in known_hosts_files(home):
        if path.is_file():
            try:
                client.load_system_host_keys(str(path))
            except (OSError, paramiko.SSHException) as err:
                raise NotReadyError(f"cannot read {path}: {err}", hint="fix the file") from err
    client.set_missing_host_key_policy(policy)
    try:
        client.connect(
            address,
            port=port,
            username=user,
            sock=ssh_socket.connect(address, port, timeout),  # type: ignore[arg-type]
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except paramiko.BadHostKeyException as err:
        client.close()
        raise NotReadyError(
            f"{label}: its host key {_fingerprint(err.key)} is not the one known_hosts has "
            f"for {known}: refused (the host changed, or someone is in between)",
            hint=f"check the new key with the host's admin; if it is right: "
            f"ssh-keygen -R '{known}', then ssh -p {port} {user}@{address} once",
        ) from None
    except paramiko.AuthenticationException as err:
        client.close()
        raise NotReadyError(
            f"{label}: your SSH keys were refused ({err})",
            hint=f"load your key into ssh-agent (ssh-add) or keep it in ~/.ssh; the host's "
            f"admin adds its public key to {user}'s authorized_keys there",
        ) from None
    except paramiko.SSHException as err:
        client.close()
        if policy.offered is not None:
            raise NotReadyError(
                f"{label} is not a known host: no key for {known} in ~/.ssh/known_hosts or "
                f"{SYSTEM_KNOWN_HOSTS} (it offered {_fingerprint(policy.offered)}); "
                "nothing was sent",
                hint=f"check that key with the host's admin, then add it: ssh-keyscan -p {port} "
                f"{address} >> ~/.ssh/known_hosts (or log in once: ssh -p {port} "
                f"{user}@{address})",
            ) from None
        raise NotReadyError(
            f"{label}: SSH failed: {err}",
            hint=f"check that sshd answers there: ssh -p {port} {user}@{address}",
        ) from None
    except (OSError, EOFError) as err:
        client.close()
        raise NotReadyError(
            f"{label} cannot be reached over SSH: {getattr(err, 'strerror', None) or err}",
            hint="check the address and port (devbox common hosts list) and that sshd runs there",
        ) from None
    return SshLink(client, label)
