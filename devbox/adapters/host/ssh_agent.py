"""The public keys an SSH agent holds (``$SSH_AUTH_SOCK``): the agent protocol's one
request for them (draft-miller-ssh-agent, SSH_AGENTC_REQUEST_IDENTITIES), over the agent's
unix socket. Small on purpose: the client must not import paramiko at start-up."""

from __future__ import annotations

import base64
import socket
import struct

REQUEST_IDENTITIES = 11
IDENTITIES_ANSWER = 12
MAX_ANSWER = 1 << 20  # an answer is a few KiB; more is not an agent


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("the agent's answer is cut short")
        part = self.data[self.at : self.at + n]
        self.at += n
        return part

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        part = sock.recv(n - len(out))
        if not part:
            raise ValueError("the agent closed the connection")
        out += part
    return out


def public_keys(path: str, timeout: float = 2.0) -> list[str]:
    """``authorized_keys`` lines (``type base64 comment``) of the agent at ``path``; [] when
    there is no agent there or it answers with anything else."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(struct.pack(">IB", 1, REQUEST_IDENTITIES))
            (length,) = struct.unpack(">I", _recv_exact(sock, 4))
            if not 0 < length <= MAX_ANSWER:
                return []
            answer = _Reader(_recv_exact(sock, length))
    except (OSError, ValueError):
        return []
    try:
        if answer.take(1)[0] != IDENTITIES_ANSWER:
            return []
        keys = []
        for _ in range(answer.uint32()):
            blob, comment = answer.string(), answer.string()
            kind = _Reader(blob).string().decode("ascii")
            text = f"{kind} {base64.b64encode(blob).decode()}"
            keys.append(f"{text} {comment.decode(errors='replace')}".rstrip())
        return keys
    except (ValueError, UnicodeDecodeError):
        return []
