"""htpasswd (bcrypt), addresses, the rendered registry config, container parameters, gc output."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import registry_plan as plan
from devbox.errors import UserError


def test_htpasswd_bcrypt_format() -> None:
    hashed = plan.hash_password("correct horse", cost=4)
    assert hashed.startswith("$2y$04$") and len(hashed) == 60
    assert plan.check_password("correct horse", hashed)
    assert not plan.check_password("wrong horse!", hashed)
    text = plan.with_user("", "alice", hashed)
    assert text == f"alice:{hashed}\n"
    text = plan.with_user(text, "bob", plan.hash_password("another-pass", cost=4))
    assert list(plan.parse_htpasswd(text)) == ["alice", "bob"]
    assert plan.parse_htpasswd(plan.without_user(text, "alice")).keys() == {"bob"}
    with pytest.raises(UserError, match="does not exist"):
        plan.without_user(text, "carol")


def test_htpasswd_parsing_and_2b_hashes() -> None:
    hashed = plan.hash_password("secret123", cost=4)
    line = f"alice:{hashed}"
    users = plan.parse_htpasswd(line + "\n# comment\n\n")
    assert users == {"alice": hashed}
    # both spellings of the bcrypt prefix verify (Go's bcrypt, which the registry uses,
    # accepts both too; the registry integration test proves it end to end)
    assert plan.check_password("secret123", "$2b$" + hashed[4:])


@pytest.mark.parametrize("user", ["Alice", "a b", "", "x" * 65, "-x"])
def test_bad_user_names(user: str) -> None:
    with pytest.raises(UserError):
        plan.validate_user(user)


def test_password_rules() -> None:
    with pytest.raises(UserError, match="short"):
        plan.validate_password("short")
    with pytest.raises(UserError, match="one line"):
        plan.validate_password("two\nlines-here")
    assert plan.validate_password("long-enough") == "long-enough"


def test_addresses() -> None:
    assert plan.parse_address("reg.example:5443") == plan.Address("reg.example", 5443)
    assert str(plan.parse_address("10.0.0.1:5000")) == "10.0.0.1:5000"
    for bad in ("reg.example", "reg:99999", "reg:port", ""):
        with pytest.raises(UserError):
            plan.parse_address(bad)


def _config(**kw: bool) -> str:
    from devbox.adapters import templates

    return templates.render("registry-config.yml.j2", plan.config_context(**kw))


def test_config_tls_and_auth() -> None:
    text = _config(tls=True)
    assert "addr: :5000" in text
    assert "certificate: /etc/docker/registry/tls/server.crt" in text
    assert "key: /etc/docker/registry/tls/server.key" in text
    assert "path: /etc/docker/registry/auth/htpasswd" in text
    assert "rootdirectory: /var/lib/docker-registry" in text
    assert "readonly:\n      enabled: false" in text
    assert "tls:" not in _config(tls=False)
    assert "readonly:\n      enabled: true" in _config(tls=True, readonly=True)


def test_run_kwargs() -> None:
    vols = plan.volumes(Path("/r/config.yml"), Path("/r/auth"), Path("/r/pki"), Path("/opt/reg"))
    kw = plan.run_kwargs(name="reg", image="devbox/registry:latest",
                         binary=plan.DEBIAN_BINARY, port=5443, vols=vols, labels={"a": "b"})
    assert kw["command"] == ["/usr/bin/docker-registry", "serve",
                             "/etc/docker/registry/config.yml"]
    assert kw["ports"] == {"5000/tcp": 5443}
    assert kw["restart_policy"] == {"Name": "unless-stopped"}
    assert kw["labels"] == {"devbox.role": "registryserver", "a": "b"}
    assert kw["volumes"]["/opt/reg"] == {"bind": "/var/lib/docker-registry", "mode": "rw"}
    assert kw["volumes"]["/r/pki"]["mode"] == "ro"
    assert "privileged" not in kw
    gc = plan.gc_kwargs(name="reg-gc", image="i", binary="/bin/registry", vols=vols, labels={})
    assert gc["command"] == ["/bin/registry", "garbage-collect", "--delete-untagged",
                             "/etc/docker/registry/config.yml"]
    assert gc["network_mode"] == "none"
    no_tls = plan.volumes(Path("/c"), Path("/a"), None, Path("/s"))
    assert "/etc/docker/registry/tls" not in [v["bind"] for v in no_tls.values()]


def test_gc_output() -> None:
    out = "devbox/os: marking blob sha256:x\n\n8 blobs marked, 3 blobs and 1 manifests " \
          "eligible for deletion\nblob eligible for deletion: sha256:y\n"
    assert plan.parse_gc_output(out) == (8, 3, 1)
    assert plan.parse_gc_output("garbage") == (0, 0, 0)
