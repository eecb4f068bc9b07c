"""Fresh SSH host keys for a clone, generated on the host (OpenSSH formats, no ssh-keygen).

A clone gets its own keys written into its filesystem before it first boots, so it never shares
its source's identity and does not depend on the image regenerating missing keys at boot.
"""

from __future__ import annotations


def generate(kind: str, comment: str) -> tuple[bytes, bytes]:
    """``(private key in OpenSSH PEM, public key line)`` for ``kind`` ed25519 or ecdsa."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unsupported host key type {kind}")
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public + b" root@" + comment.encode() + b"\n"


def generate_set(kinds: tuple[str, ...], comment: str) -> dict[str, tuple[bytes, bytes]]:
    return {kind: generate(kind, comment) for kind in kinds}
