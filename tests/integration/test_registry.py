"""The private registry against the real engine: up with TLS (devbox's CA, trusted by the engine
through /etc/docker/certs.d) and htpasswd auth; a push without credentials is refused; user add
logs the engine in; publish dev; a run-unique image is published, deleted locally, pulled back
through the registry with the same digest and id; data survives down/up; gc; user remove.

Everything has the run id in its name: port, network, container, storage, the certs.d entry.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.engine import test_name as unique_name
from tests.fixtures.images import cfg_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "S3cret-pass-" + RUN_ID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry_env(
    engine: Any, devbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    from devbox.services import registry_site

    # the registry sits on a network of its own; the host reaches it at that network's
    # gateway address (a host address that is not loopback, so the engine verifies TLS)
    net = engine.networks.create(
        unique_name("regnet"), driver="bridge", labels={TEST_LABEL: RUN_ID}
    )
    net.reload()
    gateway = net.attrs["IPAM"]["Config"][0]["Gateway"].split("/")[0]
    port = _free_port()
    name = unique_name("reg")
    address = f"{gateway}:{port}"
    env = {
        **devbox_env,
        "DEVBOX_REGISTRY_ADDRESS": address,
        "DEVBOX_REGISTRY_PORT": str(port),
        "DEVBOX_REGISTRY_STORAGE": str(tmp_path / "storage"),
        "DEVBOX_REGISTRY_NAME": name,
        "DEVBOX_REGISTRY_NETWORK": net.name,
    }
    docker_config = Path(devbox_env["HOME"]) / ".docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    env["DOCKER_CONFIG"] = str(docker_config)
    try:
        yield env
    finally:
        for ctr in (name, f"{name}-gc"):
            try:
                engine.containers.get(ctr).remove(force=True)
            except Exception:  # noqa: BLE001
                pass
        for image in engine.images.list():
            for tag in image.tags:
                if tag.startswith(address + "/") or tag.startswith(f"devbox/dbxt{RUN_ID}"):
                    engine.images.remove(tag, force=True)
        net.remove()
        shutil.rmtree(registry_site.engine_ca_file(address).parent, ignore_errors=True)


def _assert_ca_key_not_in_container(ctr: Any, pki_dir: Path) -> None:
    """No mount of the registry container is the CA's directory or holds the CA key, and the
    container's TLS directory has the server's certificate and key only."""
    ca_key = (pki_dir / "ca.key").read_bytes()
    mounts = ctr.attrs["Mounts"]
    assert mounts
    for mount in mounts:
        source = Path(mount["Source"])
        assert source.resolve() != pki_dir.resolve(), mount
        files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else [source]
        holding = [f for f in files if f.name == "ca.key" or f.read_bytes() == ca_key]
        assert not holding, (mount, holding)
        if mount["Destination"] != "/var/lib/docker-registry":
            assert mount["RW"] is False, mount
    code, out = ctr.exec_run(["ls", "-A", "/etc/docker/registry/tls"])
    assert code == 0 and out.decode().split() == ["server.crt", "server.key"], out
    code, out = ctr.exec_run(["cat", "/etc/docker/registry/tls/ca.key"])
    assert code != 0, out


def _test_image(cfg: Any, tmp_path: Path) -> tuple[str, str]:
    """A small image unique to this run (base + one layer), so deleting it locally really
    deletes it and the pull really downloads."""
    from devbox.services import images

    name = unique_name("img")
    d = tmp_path / "defs" / name
    d.mkdir(parents=True)
    (d / "image.toml").write_text(
        f'base = "debian-12"\nssh = false\nrun = ["echo {RUN_ID}-{name} > /etc/devbox-test"]\n'
    )
    built = images.build_image(cfg, name, definitions=tmp_path / "defs", tag_registry=False)
    return name, built.image_id


def test_registry_end_to_end(
    registry_env: dict[str, str],
    dev_image: str,
    engine: Any,
    devbox_run: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from cryptography import x509

    from devbox.adapters import registry_api
    from devbox.services import images, registry_site

    env = registry_env
    cfg = cfg_for(env)
    address = env["DEVBOX_REGISTRY_ADDRESS"]
    timings: dict[str, float] = {}

    def timed(label: str, *args: str, input: str | None = None) -> Any:
        t0 = time.monotonic()
        res = devbox_run(*args, env=env, input=input)
        timings[label] = time.monotonic() - t0
        return res

    # -- up: TLS with our CA, trusted by the engine ------------------------------------------
    res = timed("up", "registryserver", "up", "--json")
    assert res.returncode == 0, res.stderr
    up = json.loads(res.stdout)
    assert up["tls"] is True and up["address"] == address
    ca_file = Path(env["DEVBOX_ROOT"]) / "pki" / "registry" / "ca.crt"
    engine_ca = registry_site.engine_ca_file(address)
    assert engine_ca.read_bytes() == ca_file.read_bytes()
    cert = x509.load_pem_x509_certificate(
        (Path(env["DEVBOX_ROOT"]) / "pki" / "registry" / "server" / "server.crt").read_bytes()
    )
    sans = [
        str(v)
        for v in cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.IPAddress)
    ]
    assert address.split(":")[0] in sans and "127.0.0.1" in sans
    ep = registry_api.Endpoint(address, tls=True, ca_file=ca_file)
    assert registry_api.ping(ep) == 401  # TLS verified with our CA; auth required
    check = registry_site.check_reachable(cfg)  # what 'devbox common doctor' shows
    assert check.ok and "TLS" in check.detail, check
    ctr = engine.containers.get(env["DEVBOX_REGISTRY_NAME"])
    assert ctr.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert ctr.attrs["HostConfig"]["Privileged"] is False
    _assert_ca_key_not_in_container(ctr, Path(env["DEVBOX_ROOT"]) / "pki" / "registry")

    # -- a push without credentials is refused -----------------------------------------------
    name, image_id = _test_image(cfg, tmp_path)
    res = timed("publish refused", "containerauthor", "publish", name)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "no basic auth credentials" in res.stderr or "unauthorized" in res.stderr.lower()

    # -- user add: password from stdin, bcrypt htpasswd, engine logged in, never logged ------
    res = timed(
        "user add", "registryserver", "user", "add", "alice", "--json", input=PASSWORD + "\n"
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["logged_in"] is True
    htpasswd_file = Path(env["DEVBOX_ROOT"]) / "registry" / "auth" / "htpasswd"
    htpasswd = htpasswd_file.read_text()
    assert any(line.startswith("alice:$2y$") for line in htpasswd.splitlines())
    # private on the host; the registry (root in its container) still reads it: login worked
    assert htpasswd_file.stat().st_mode & 0o777 == 0o600
    assert htpasswd_file.parent.stat().st_mode & 0o777 == 0o700
    auths = json.loads((Path(env["DOCKER_CONFIG"]) / "config.json").read_text())["auths"]
    assert address in auths
    log_text = (Path(env["DEVBOX_ROOT"]) / "logs" / "devbox.log").read_text()
    assert PASSWORD not in log_text and "alice" in log_text

    # -- publish dev, and the run-unique image ---------------------------------------------
    res = timed("publish dev", "containerauthor", "publish", "dev", "--json")
    assert res.returncode == 0, res.stderr
    dev_pub = json.loads(res.stdout)
    admin = registry_site.endpoint(cfg, address)
    assert registry_api.manifest_digest(admin, "devbox/dev", "latest") == dev_pub["digest"]

    res = timed("publish test image", "containerauthor", "publish", name, "--json")
    assert res.returncode == 0, res.stderr
    pushed = json.loads(res.stdout)["digest"]

    # -- delete it locally, pull it back through the registry: same digest, same id ----------
    remote = f"{address}/devbox/{name}:latest"
    engine.images.remove(remote)
    engine.images.remove(f"devbox/{name}:latest")
    with pytest.raises(Exception, match="No such image"):
        engine.images.get(image_id)
    t0 = time.monotonic()
    seen: list[str] = []
    local = images.ensure_image(cfg, name, progress=lambda c, t, d: seen.append(d))
    timings["pull back"] = time.monotonic() - t0
    assert local == f"devbox/{name}:latest"
    pulled = engine.images.get(local)
    assert pulled.id == image_id
    assert f"{address}/devbox/{name}@{pushed}" in pulled.attrs["RepoDigests"]
    assert any("Pull complete" in d or "Download" in d for d in seen)

    # -- data survives down/up -------------------------------------------------------------
    res = timed("down", "registryserver", "down")
    assert res.returncode == 0, res.stderr
    with pytest.raises(Exception, match="No such container"):
        engine.containers.get(env["DEVBOX_REGISTRY_NAME"])
    res = timed("up again", "registryserver", "up")
    assert res.returncode == 0, res.stderr
    res = timed("status", "registryserver", "status", "--json")
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    assert status["state"] == "running" and status["tls"] is True
    assert status["users"] == ["alice"]
    assert status["repositories"]["devbox/dev"] == ["latest"]
    assert status["repositories"][f"devbox/{name}"] == ["latest"]
    assert status["storage_bytes"] > 50_000_000
    assert registry_api.manifest_digest(admin, f"devbox/{name}", "latest") == pushed

    # -- gc with the registry stopped, then running again; nothing referenced is lost --------
    res = timed("gc", "registryserver", "gc", "--json")
    assert res.returncode == 0, res.stderr
    assert registry_api.manifest_digest(admin, f"devbox/{name}", "latest") == pushed
    assert registry_api.ping(ep) == 401

    # -- user remove: alice's pushes are refused from now on ----------------------------------
    res = timed("user remove", "registryserver", "user", "remove", "alice")
    assert res.returncode == 0, res.stderr
    alice = registry_api.Endpoint(
        address, tls=True, ca_file=ca_file, user="alice", password=PASSWORD
    )
    assert registry_api.request(alice, "/v2/_catalog").status == 401

    print("registry timings:", {k: f"{v:.2f}s" for k, v in timings.items()})


def test_user_add_rolls_back_when_login_fails(
    devbox_env: dict[str, str], engine: Any, devbox_run: Callable[..., Any]
) -> None:
    port = _free_port()  # nothing listens there
    env = {
        **devbox_env,
        "DEVBOX_REGISTRY_ADDRESS": f"127.0.0.1:{port}",
        "DEVBOX_REGISTRY_NAME": unique_name("noreg"),
        "DOCKER_CONFIG": str(Path(devbox_env["HOME"]) / ".docker"),
    }
    res = devbox_run("registryserver", "user", "add", "bob", env=env, input=PASSWORD + "\n")
    assert res.returncode == 4, res.stdout + res.stderr
    assert f"127.0.0.1:{port}" in res.stderr and "--no-login" in res.stderr
    htpasswd = Path(devbox_env["DEVBOX_ROOT"]) / "registry" / "auth" / "htpasswd"
    assert "bob:" not in htpasswd.read_text()
    assert not (Path(env["DOCKER_CONFIG"]) / "config.json").exists()
    assert PASSWORD not in (Path(devbox_env["DEVBOX_ROOT"]) / "logs" / "devbox.log").read_text()
