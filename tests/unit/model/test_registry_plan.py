"""htpasswd (bcrypt), addresses, the rendered registry config, container parameters, gc output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox.errors import UserError
from devbox.model import registry_plan as plan


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
    kw = plan.run_kwargs(
        name="reg",
        image="devbox/registry:latest",
        binary=plan.DEBIAN_BINARY,
        port=5443,
        vols=vols,
        labels={"a": "b"},
    )
    assert kw["command"] == ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
    assert kw["ports"] == {"5000/tcp": 5443}
    assert kw["restart_policy"] == {"Name": "unless-stopped"}
    assert kw["labels"] == {"devbox.role": "registryserver", "a": "b"}
    assert kw["volumes"]["/opt/reg"] == {"bind": "/var/lib/docker-registry", "mode": "rw"}
    assert kw["volumes"]["/r/pki"]["mode"] == "ro"
    assert "privileged" not in kw
    gc = plan.gc_kwargs(name="reg-gc", image="i", binary="/bin/registry", vols=vols, labels={})
    assert gc["command"] == [
        "/bin/registry",
        "garbage-collect",
        "--delete-untagged",
        "/etc/docker/registry/config.yml",
    ]
    assert gc["network_mode"] == "none"
    no_tls = plan.volumes(Path("/c"), Path("/a"), None, Path("/s"))
    assert "/etc/docker/registry/tls" not in [v["bind"] for v in no_tls.values()]


def test_gc_output() -> None:
    out = (
        "devbox/os: marking blob sha256:x\n\n8 blobs marked, 3 blobs and 1 manifests "
        "eligible for deletion\nblob eligible for deletion: sha256:y\n"
    )
    assert plan.parse_gc_output(out) == (8, 3, 1)
    assert plan.parse_gc_output("garbage") == (0, 0, 0)


# -- hostile neighbours: the CA key, htpasswd, credentials across redirects -------------------


def _cfg(tmp_path: Path) -> Any:
    from devbox import config

    return config.load(
        environ={
            "DEVBOX_ROOT": str(tmp_path / "root"),
            "DEVBOX_REGISTRY_STORAGE": str(tmp_path / "storage"),
        },
        files=(),
    )


def _mounted_files(vols: dict[str, dict[str, str]]) -> list[Path]:
    out: list[Path] = []
    for source in vols:
        path = Path(source)
        if path.is_dir():
            out += [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            out.append(path)
    return out


def test_registry_container_never_gets_the_ca_key(tmp_path: Path) -> None:
    from devbox.adapters import pki
    from devbox.services import registry_site, registry_users

    cfg = _cfg(tmp_path)
    paths = registry_site.server_paths(cfg)
    certs = pki.CertPaths(paths.pki)
    pki.ensure_ca(certs)
    pki.ensure_server_cert(certs, ["localhost", "127.0.0.1"])
    registry_users.write_htpasswd(paths, "a:b\n")
    paths.config.write_text("version: 0.1\n")
    ca_key = certs.ca_key.read_bytes()
    vols = registry_site.volumes(cfg)
    files = _mounted_files(vols)
    assert not [f for f in files if f.read_bytes() == ca_key or f.name == "ca.key"], vols
    assert certs.server_key.read_bytes() in [f.read_bytes() for f in files]  # it still serves
    binds = {v["bind"]: k for k, v in vols.items()}
    tls_dir = Path(binds[plan.CONTAINER_TLS_DIR])
    assert sorted(p.name for p in tls_dir.iterdir()) == ["server.crt", "server.key"]
    assert all(v["mode"] == "ro" for b, v in vols.items() if b != str(tmp_path / "storage"))


def test_htpasswd_and_its_dir_are_private(tmp_path: Path) -> None:
    from devbox.services import registry_site, registry_users

    paths = registry_site.server_paths(_cfg(tmp_path))
    registry_users.write_htpasswd(paths, "alice:$2y$04$x\n")
    assert paths.htpasswd.stat().st_mode & 0o777 == 0o600
    assert paths.auth_dir.stat().st_mode & 0o777 == 0o700
    registry_users.write_htpasswd(paths, "bob:$2y$04$y\n")  # rewrites keep the mode
    assert paths.htpasswd.stat().st_mode & 0o777 == 0o600
    assert not list(paths.auth_dir.glob("*.tmp"))


def _redirector(target: str) -> Any:
    def answer(req: Any) -> None:
        req.send(302, headers={"Location": target + req.path})

    return answer


def _catalog(req: Any) -> None:
    req.send(200, b'{"repositories": ["devbox/dev"]}', headers={"Content-Type": "application/json"})


def test_credentials_never_follow_a_redirect_to_another_port(tmp_path: Path) -> None:
    from devbox.adapters import registry_api
    from tests.unit.loopback import serve

    with serve(_catalog) as other, serve(_redirector(other.base)) as reg:
        ep = registry_api.Endpoint(reg.address, tls=False, user="alice", password="pw-123456")
        assert registry_api.catalog(ep) == ["devbox/dev"]
        assert reg.seen[0].headers.get("Authorization", "").startswith("Basic ")
        assert len(other.seen) == 1
        assert "Authorization" not in other.seen[0].headers, other.seen[0].headers


def test_credentials_kept_on_a_same_origin_redirect(tmp_path: Path) -> None:
    from devbox.adapters import registry_api
    from tests.unit.loopback import serve

    def answer(req: Any) -> None:
        if req.path.startswith("/moved"):
            _catalog(req)
        else:
            req.send(307, headers={"Location": "/moved" + req.path})

    with serve(answer) as reg:
        ep = registry_api.Endpoint(reg.address, tls=False, user="alice", password="pw-123456")
        assert registry_api.catalog(ep) == ["devbox/dev"]
        assert [r.path.split("/")[1] for r in reg.seen] == ["v2", "moved"]
        assert all(r.headers.get("Authorization") for r in reg.seen)


def test_https_to_http_redirect_refused(tmp_path: Path) -> None:
    from devbox.adapters import registry_api
    from devbox.errors import OperationFailed
    from tests.unit.loopback import serve, tls_pair

    ca_file, server_tls = tls_pair(tmp_path)
    with serve(_catalog) as plain, serve(_redirector(plain.base), tls=server_tls) as reg:
        ep = registry_api.Endpoint(
            reg.address, tls=True, ca_file=ca_file, user="alice", password="pw-123456"
        )
        with pytest.raises(OperationFailed, match="redirect") as exc:
            registry_api.catalog(ep)
        assert "\n" not in exc.value.message
        assert len(reg.seen) == 1 and plain.seen == []  # TLS verified with devbox's CA


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:1/x", "file:///etc/passwd"])
def test_redirect_to_another_scheme_refused(target: str) -> None:
    from devbox.adapters import registry_api
    from devbox.errors import OperationFailed
    from tests.unit.loopback import serve

    def answer(req: Any) -> None:
        req.send(302, headers={"Location": target})

    with serve(answer) as reg:
        ep = registry_api.Endpoint(reg.address, tls=False, user="alice", password="pw-123456")
        with pytest.raises(OperationFailed, match="redirect"):
            registry_api.catalog(ep)
