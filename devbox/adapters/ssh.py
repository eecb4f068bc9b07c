"""SSH through paramiko: devbox's key pair, host keys learnt through a trusted channel, and
connections that never auto-accept an unknown host key (docker-py's ``RejectPolicy`` rule).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.adapters import ssh_socket
from devbox.errors import DevboxError, NotReadyError, OperationFailed
from devbox.waits import wait_until

if TYPE_CHECKING:
    import paramiko

SocketFactory = Callable[[str, int, float], socket.socket]


def preload() -> None:
    """Import paramiko now (a make does it while Docker works, to save ~0.2 s later)."""
    import paramiko  # noqa: F401


def ensure_keypair(private_path: Path) -> str:
    """Create an ed25519 key pair at ``private_path`` (+ ``.pub``) unless present; return the
    public key line."""
    pub_path = private_path.with_suffix(".pub")
    if private_path.exists() and pub_path.exists():
        return pub_path.read_text().strip()
    private_bytes, public = _new_ed25519()
    public += " devbox"
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path.touch(mode=0o600)
    private_path.write_bytes(private_bytes)
    pub_path.write_text(public + "\n")
    return public


def generate_host_key(comment: str) -> tuple[bytes, str]:
    """A fresh ed25519 SSH host key: (OpenSSH private key bytes, public key line)."""
    private, public = _new_ed25519()
    return private, f"{public} root@{comment}"


def _new_ed25519() -> tuple[bytes, str]:
    """A fresh ed25519 key: (OpenSSH private key bytes, public key line without a comment)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


def tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    return ssh_socket.connect(host, port, timeout)


class _NotYet(Exception):
    """sshd answered but not usefully yet (probe says why): try again."""


def _until_sshd(
    host: str,
    port: int,
    timeout: float,
    connect: SocketFactory,
    probe: Callable[[socket.socket, float], str | None],
) -> tuple[float, str | None]:
    """Connect to sshd until ``probe(sock, seconds_left)`` returns (bounded in time and tries):
    (seconds it took, what probe returned). Refused connections, socket errors and _NotYet are
    retried; the rest propagates."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = ["no answer"]

    def attempt() -> tuple[float, str | None] | None:
        left = max(0.1, deadline - time.monotonic())
        try:
            sock = connect(host, port, min(2.0, left))
        except OSError as err:
            last[0] = err.strerror or str(err)
            return None
        try:
            with sock:
                return time.monotonic() - t0, probe(sock, left)
        except (OSError, _NotYet) as err:
            last[0] = getattr(err, "strerror", None) or str(err)
            return None

    return wait_until(
        attempt,
        timeout,
        0.02,  # a refused connect costs nothing; sshd answers ~0.15 s after the start
        f"sshd on {host}:{port}",
        error=lambda: OperationFailed(
            f"sshd on {host}:{port} did not answer within {timeout:.0f}s ({last[0]})",
            hint="check the container's log (devbox dockeruser logs NAME) and "
            "'systemctl status ssh' inside it (devbox dockeruser exec)",
        ),
    )


def wait_for_banner(
    host: str, port: int = 22, timeout: float = 30.0, connect: SocketFactory = tcp_connect
) -> float:
    """Wait until an SSH server answers with its banner; return the seconds it took."""

    def banner(sock: socket.socket, left: float) -> None:
        sock.settimeout(min(2.0, left))
        data = sock.recv(64)
        if not data.startswith(b"SSH-"):
            raise _NotYet(f"unexpected banner {data[:20]!r}")

    return _until_sshd(host, port, timeout, connect, banner)[0]


def server_host_key(sock: socket.socket, key_types: list[str], timeout: float = 5.0) -> str:
    """The host key (``type base64``) an SSH server on ``sock`` proves it holds in a key
    exchange (no authentication), asking for one of ``key_types`` (e.g. ``ssh-ed25519``).
    Closes ``sock``."""
    import paramiko

    transport = paramiko.Transport(ssh_socket.tuned(sock))
    try:
        transport.banner_timeout = timeout
        options = transport.get_security_options()
        options.key_types = [t for t in options.key_types if t in key_types] or key_types
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except (paramiko.SSHException, EOFError, OSError) as err:  # e.g. reset while sshd starts
        raise OperationFailed(f"SSH key exchange failed: {err or type(err).__name__}") from err
    finally:
        transport.close()


def wait_for_host_key(
    host: str,
    expected: list[str],
    port: int = 22,
    timeout: float = 30.0,
    connect: SocketFactory = tcp_connect,
) -> float:
    """Wait until sshd answers and proves, in a key exchange on that same connection, that it
    holds one of the ``expected`` host keys (``type base64 [comment]`` lines: the keys devbox put
    in). Returns the seconds it took; a server with another key raises OperationFailed."""
    wanted = {" ".join(line.split()[:2]) for line in expected if len(line.split()) >= 2}
    types = sorted({w.split()[0] for w in wanted})

    def key(sock: socket.socket, left: float) -> str:
        try:
            return server_host_key(sock, types, timeout=min(5.0, left))
        except OperationFailed as err:  # sshd still starting (closed, no banner yet)
            raise _NotYet(err.message) from err

    seconds, got = _until_sshd(host, port, timeout, connect, key)
    if got not in wanted:
        raise OperationFailed(
            f"sshd on {host}:{port} holds another host key than the one "
            f"devbox made ({str(got).split()[0]})",
            hint="does the image make new host keys at boot?",
        )
    return seconds


def record_host_keys(known_hosts: Path, names: list[str], key_lines: list[str]) -> None:
    """Record the host's public keys (``ssh-ed25519 AAAA...`` lines that devbox made or read
    through the Docker API, not learnt from the network) for every name; replaces older entries
    for those names."""
    added = []
    for line in key_lines:
        parts = line.split()
        if len(parts) < 2:
            continue
        _b64(parts[1])  # a broken key line fails here, not at the next login
        added += [f"{name} {parts[0]} {parts[1]}" for name in names]
    _rewrite_known_hosts(known_hosts, set(names), added)


def forget_host(known_hosts: Path, names: list[str]) -> None:
    if known_hosts.exists():
        _rewrite_known_hosts(known_hosts, set(names), [])


def _rewrite_known_hosts(known_hosts: Path, drop: set[str], add: list[str]) -> None:
    """Drop every entry for the names in ``drop`` from devbox's known_hosts (plain, unhashed
    OpenSSH format), append ``add``; under its writer lock, replaced atomically and durably
    (:mod:`devbox.jsonfile`)."""
    from devbox import jsonfile

    known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with jsonfile.locked(known_hosts):
        old = known_hosts.read_text().splitlines() if known_hosts.exists() else []
        kept = []
        for line in old:
            fields = line.split()
            if not fields or fields[0].startswith(("#", "@")):
                kept.append(line)
                continue
            hosts = fields[0].split(",")
            left = [h for h in hosts if h not in drop]
            if left:
                kept.append(
                    line if len(left) == len(hosts) else " ".join([",".join(left), *fields[1:]])
                )
        jsonfile.write_text(known_hosts, "".join(f"{line}\n" for line in [*kept, *add]), mode=0o600)


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text, validate=True)


@dataclass
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def connect(
    host: str,
    user: str,
    key_path: Path,
    known_hosts: Path,
    port: int = 22,
    timeout: float = 10.0,
    sock: socket.socket | None = None,
) -> paramiko.SSHClient:
    """Open an SSH session; an unknown or changed host key is refused, never accepted."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    try:
        sock = ssh_socket.tuned(sock) if sock is not None else tcp_connect(host, port, timeout)
        client.connect(
            host,
            port=port,
            username=user,
            key_filename=str(key_path),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=False,
            allow_agent=False,
            sock=sock,
        )  # type: ignore[arg-type]
    except paramiko.BadHostKeyException as err:
        raise OperationFailed(
            f"host key of {host} changed: refusing to connect",
            hint=f"if the container was rebuilt, run make again; known hosts: {known_hosts}",
        ) from err
    except paramiko.SSHException as err:
        if "not found in known_hosts" in str(err):
            raise OperationFailed(
                f"host key of {host} is unknown: refusing to connect",
                hint=f"devbox records it at make time in {known_hosts}",
            ) from err
        raise OperationFailed(f"ssh to {user}@{host}: {err}") from err
    except OSError as err:
        raise NotReadyError(f"ssh to {user}@{host}:{port}: {err.strerror or err}") from err
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float = 600.0) -> CommandResult:
    """Run ``command`` over ``client``; OperationFailed if it has not exited ``timeout`` seconds
    after it started (the channel is closed: sshd hangs up on it)."""
    t0 = time.monotonic()
    _stdin, stdout, _stderr = client.exec_command(command, timeout=timeout)
    return _collect(stdout.channel, command, t0, timeout)


def _collect(channel: paramiko.Channel, command: str, t0: float, timeout: float) -> CommandResult:
    """Read ``channel``'s output and exit status until the command exits (bounded: OperationFailed
    and the channel closed ``timeout`` seconds after ``t0``)."""
    import select

    deadline = t0 + timeout
    out, err = bytearray(), bytearray()
    for _ in range(10_000_000):  # bounded: each turn reads or waits up to 0.2 s
        if channel.recv_ready():
            out += channel.recv(65536)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        elif channel.exit_status_ready() and (channel.eof_received or channel.closed):
            break
        elif time.monotonic() >= deadline:
            channel.close()
            raise OperationFailed(
                f"ssh command {command[:60]!r} hung: no exit after {timeout:g} s; closed"
            )
        elif channel.eof_received or channel.closed:  # the output is all in: the exit status
            channel.status_event.wait(0.2)
        else:  # output or EOF (the exit status often comes first: waiting on it would spin)
            select.select([channel], [], [], 0.2)
    while channel.recv_ready():
        out += channel.recv(65536)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(65536)
    code = channel.recv_exit_status()
    return CommandResult(
        code, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0
    )


# ---- many connections with one key and one read of known_hosts (run-on) ----------------------
@dataclass(frozen=True)
class HostKeys:
    """devbox's known_hosts, read once for many connections: each host name or address with
    the keys recorded for it (``type base64``), nothing learnt from the network."""

    path: Path
    by_host: dict[str, frozenset[str]]

    def of(self, host: str, port: int = 22) -> frozenset[str]:
        return self.by_host.get(host if port == 22 else f"[{host}]:{port}", frozenset())


def read_host_keys(known_hosts: Path) -> HostKeys:
    """Parse devbox's known_hosts (plain OpenSSH format, as :func:`record_host_keys` writes it;
    comments, markers and hashed names are skipped: devbox writes none). paramiko's own
    loader checks every line against all the lines before it, and builds a key object for
    each: quadratic in the number of containers, once per connection."""
    found: dict[str, set[str]] = {}
    text = known_hosts.read_text() if known_hosts.exists() else ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@", "|")):
            continue
        for host in fields[0].split(","):
            found.setdefault(host, set()).add(f"{fields[1]} {fields[2]}")
    return HostKeys(known_hosts, {h: frozenset(keys) for h, keys in found.items()})


def load_key(key_path: Path) -> paramiko.PKey:
    """devbox's private key, read and parsed once for many connections."""
    import paramiko

    try:
        return paramiko.PKey.from_path(key_path)
    except (OSError, paramiko.SSHException, ValueError) as err:
        raise OperationFailed(
            f"cannot read devbox's SSH key {key_path}: {err}",
            hint="devbox makes it at the first make-dev-container",
        ) from err


def open_transport(
    host: str,
    user: str,
    key: paramiko.PKey,
    host_keys: HostKeys,
    sock: socket.socket,
    port: int = 22,
    timeout: float = 10.0,
) -> paramiko.Transport:
    """As :func:`connect`, with a key and host keys read once for many connections (a bare
    paramiko Transport: no SSHClient, which reads known_hosts and the key file again each
    time). The server's host key must be one recorded for ``host``: an unknown or changed
    key is refused, never accepted. Takes ``sock`` (closed on failure)."""
    import paramiko

    wanted = host_keys.of(host, port)
    sock = ssh_socket.tuned(sock)  # the same connection: ``sock`` given is detached
    try:
        transport = paramiko.Transport(sock)
    except (paramiko.SSHException, OSError) as err:
        sock.close()
        raise NotReadyError(f"ssh to {user}@{host}:{port}: {err}") from err
    try:
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        options = transport.get_security_options()
        known_types = {k.split()[0] for k in wanted}
        options.key_types = sorted(options.key_types, key=lambda t: t not in known_types)
        transport.start_client(timeout=timeout)
        if not transport.initial_kex_done:  # start_client gives up silently at its time-out
            raise NotReadyError(f"ssh to {user}@{host}:{port}: no key exchange in {timeout:g}s")
        server_key = transport.get_remote_server_key()
        if f"{server_key.get_name()} {server_key.get_base64()}" not in wanted:
            raise _refused(host, bool(wanted), host_keys.path)
        transport.auth_publickey(user, key)
    except DevboxError:
        transport.close()
        raise
    except paramiko.SSHException as err:
        transport.close()
        raise OperationFailed(f"ssh to {user}@{host}: {err}") from err
    except (OSError, EOFError) as err:
        transport.close()
        raise NotReadyError(
            f"ssh to {user}@{host}:{port}: {getattr(err, 'strerror', None) or err}"
        ) from err
    return transport


def _refused(host: str, known: bool, known_hosts: Path) -> OperationFailed:
    if known:
        return OperationFailed(
            f"host key of {host} changed: refusing to connect",
            hint=f"if the container was rebuilt, run make again; known hosts: {known_hosts}",
        )
    return OperationFailed(
        f"host key of {host} is unknown: refusing to connect",
        hint=f"devbox records it at make time in {known_hosts}",
    )


def run_on_transport(
    transport: paramiko.Transport, command: str, timeout: float = 600.0
) -> CommandResult:
    """As :func:`run`, on a Transport of :func:`open_transport` (one session channel)."""
    t0 = time.monotonic()
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    return _collect(channel, command, t0, timeout)
