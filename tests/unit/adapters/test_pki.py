"""The registry CA and server certificate: SANs, chain, key modes, re-issue on name change."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from devbox.adapters import pki


def test_ca_and_server_cert(tmp_path: Path) -> None:
    paths = pki.CertPaths(tmp_path / "pki")
    assert pki.ensure_ca(paths) is True
    assert pki.ensure_ca(paths) is False
    names = ["vm", "localhost", "127.0.0.1", "172.17.0.1", "reg.example"]
    assert pki.ensure_server_cert(paths, names) is True
    assert pki.ensure_server_cert(paths, names) is False
    assert paths.ca_key.stat().st_mode & 0o777 == 0o600
    assert paths.server_key.stat().st_mode & 0o777 == 0o600

    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"vm", "localhost", "reg.example"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("172.17.0.1"),
    }
    # signed by the CA
    assert cert.issuer == ca.subject
    pub = ca.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert sorted(pki.cert_names(paths.server_cert)) == sorted(names)


def test_reissue_when_names_change(tmp_path: Path) -> None:
    paths = pki.CertPaths(tmp_path)
    pki.ensure_ca(paths)
    pki.ensure_server_cert(paths, ["a", "127.0.0.1"])
    first = paths.server_cert.read_bytes()
    assert pki.ensure_server_cert(paths, ["a"]) is False  # a subset: still valid
    assert pki.ensure_server_cert(paths, ["a", "b"]) is True
    assert paths.server_cert.read_bytes() != first
    assert "b" in pki.cert_names(paths.server_cert)


def test_host_names_include_loopback() -> None:
    names = pki.host_names()
    assert "localhost" in names and "127.0.0.1" in names


def test_the_ca_may_sign_and_nothing_else(tmp_path: Path) -> None:
    paths = pki.CertPaths(tmp_path)
    pki.ensure_ca(paths)
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ext = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ext.critical
    usage = ext.value
    assert usage.digital_signature and usage.key_cert_sign and usage.crl_sign
    assert not (usage.content_commitment or usage.key_encipherment or usage.data_encipherment)
    assert not usage.key_agreement


def test_an_unknown_key_usage_is_refused() -> None:
    with pytest.raises(ValueError, match="no such key usage: sign_everything"):
        pki._key_usage("key_cert_sign", "sign_everything")
