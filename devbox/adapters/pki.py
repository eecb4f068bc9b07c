"""A small PKI for the registry: a CA and a server certificate, with the ``cryptography`` package.

Files (PEM) under ``<root>/pki/registry/``: ``ca.crt``, ``ca.key``, and the server's own
``server/server.crt`` and ``server/server.key`` in a directory of their own, which is all the
registry container gets mounted: the CA key never enters a container. Keys are written 0600.
The CA lives for 10 years, server certificates for 2; a server certificate is re-issued when
its names change or it is about to expire.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.errors import OperationFailed

if TYPE_CHECKING:
    from cryptography import x509

CA_DAYS = 3650
SERVER_DAYS = 730
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class CertPaths:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_dir(self) -> Path:
        """The server's certificate and key, and nothing else (what a server may mount)."""
        return self.dir / "server"

    @property
    def server_cert(self) -> Path:
        return self.server_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.server_dir / "server.key"


def host_names() -> list[str]:
    """This host's names and IPv4 addresses (every interface, read-only), plus localhost."""
    names = ["localhost", "127.0.0.1"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names:
            names.append(name)
    try:
        from devbox.adapters.net import netlink

        for link in netlink.links():
            for addr, _plen in netlink.addresses(link.name):
                if addr not in names:
                    names.append(addr)
    except Exception:  # noqa: BLE001 - addresses are a nicety; names above still work
        pass
    return names


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` 0600 through a fresh file (never an existing link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _key() -> object:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _san_entries(names: list[str]) -> list[object]:
    from cryptography import x509

    out: list[object] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


# every usage x509.KeyUsage names: a certificate may do the ones _key_usage grants, no other
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*granted: str) -> x509.KeyUsage:
    """The KeyUsage extension that allows ``granted`` (names of :data:`KEY_USAGES`) only."""
    from cryptography import x509

    unknown = set(granted) - set(KEY_USAGES)
    if unknown:
        raise ValueError(f"no such key usage: {', '.join(sorted(unknown))}")
    return x509.KeyUsage(**{usage: usage in granted for usage in KEY_USAGES})


def ensure_ca(paths: CertPaths, common_name: str = "devbox registry CA") -> bool:
    """Create the CA unless it exists. True when created."""
    if paths.ca_cert.exists() and paths.ca_key.exists():
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devbox"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)  # type: ignore[attr-defined]
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    from cryptography.hazmat.primitives import serialization

    _write_private(paths.ca_key, _pem_key(key))
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(paths.ca_cert, 0o644)
    return True


def cert_names(path: Path) -> list[str]:
    """The SANs of a PEM certificate, as strings (DNS names and IP addresses)."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]


def _needs_new_server_cert(paths: CertPaths, names: list[str]) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return True
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    remaining = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if remaining < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return True
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if cert.issuer != ca.subject:
        return True
    return not set(names) <= set(cert_names(paths.server_cert))


def ensure_server_cert(paths: CertPaths, names: list[str]) -> bool:
    """Issue (or re-issue) the server certificate for ``names``. True when issued."""
    if not _needs_new_server_cert(paths, names):
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    try:
        ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    except (OSError, ValueError) as err:
        raise OperationFailed(
            f"cannot read the registry CA in {paths.dir}: {err}",
            hint=f"remove {paths.dir} to start a new CA",
        ) from err
    key = _key()
    now = dt.datetime.now(dt.UTC)
    dns_first = sorted(names, key=lambda n: n[0].isdigit())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_first[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(_san_entries(names)),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write_private(paths.server_key, _pem_key(key))
    paths.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # an older devbox kept the server's files beside the CA's (and mounted that whole dir)
    for old in (paths.dir / "server.crt", paths.dir / "server.key"):
        old.unlink(missing_ok=True)
    return True
