"""Image definitions, Dockerfile rendering, build-context digest, refs, progress parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.errors import UserError
from devbox.model import image_plan as plan
from devbox.services import images


def _render(name: str, netwait: bool) -> str:
    image = images.load(name)
    ctx = plan.dockerfile_context(image, "base/debian-12:bookworm", "debian", netwait)
    from devbox.adapters import templates

    return templates.render("Dockerfile.j2", ctx)


def test_shipped_images_parse() -> None:
    defs = {d.name: d for d in plan.list_image_defs(images.images_dir())}
    assert {"dev", "os"} <= set(defs)
    dev = defs["dev"]
    assert dev.base == "debian-12" and dev.user == "dev" and dev.ssh and dev.netwait
    assert {"openssh-server", "sudo", "locales", "tzdata", "build-essential"} <= set(dev.packages)
    assert defs["os"].user == ""
    assert images.os_image_for("debian-12") == "os"
    with pytest.raises(UserError, match="no OS image"):
        images.os_image_for("plan9")


def test_dev_dockerfile() -> None:
    text = _render("dev", netwait=False)
    lines = text.splitlines()
    assert lines[1] == "FROM base/debian-12:bookworm"
    assert "apt-get install -y --no-install-recommends openssh-server sudo" in text
    assert "rm -rf /var/lib/apt/lists/*" in text
    # host keys are made per container at first boot, never baked in
    assert "RUN rm -f /etc/ssh/ssh_host_*" in text
    assert "COPY devbox-ssh-hostkeys.service /etc/systemd/system/" in text
    assert "systemctl enable devbox-ssh-hostkeys.service ssh.service" in text
    assert "useradd --create-home --shell /bin/bash --user-group dev" in text
    assert "dev ALL=(ALL) NOPASSWD:ALL" in text
    assert "locale-gen" in text and "ENV LANG=en_US.UTF-8" in text
    assert "/usr/share/zoneinfo/Etc/UTC" in text
    assert "mkdir -p /opt" in text and ": > /etc/machine-id" in text
    assert "STOPSIGNAL SIGRTMIN+3" in text
    assert lines[-1] == 'CMD ["/sbin/init"]'
    assert "devbox-net-wait" not in text


def test_netwait_step_only_when_present() -> None:
    text = _render("dev", netwait=True)
    assert "COPY devbox-net-wait /usr/local/sbin/devbox-net-wait" in text
    assert "COPY devbox-net-wait.service /etc/systemd/system/devbox-net-wait.service" in text
    assert "systemctl enable devbox-net-wait.service" in text
    # the os image does not ask for it even when present
    assert "devbox-net-wait" not in _render("os", netwait=True)


def test_os_dockerfile_has_no_user() -> None:
    text = _render("os", netwait=False)
    assert "useradd" not in text and "NOPASSWD" not in text
    assert "openssh-server" in text and "locale-gen" not in text


def test_every_image_masks_the_units_a_boot_would_redo() -> None:
    for name in ("dev", "os"):
        text = _render(name, netwait=False)
        mask = [line for line in text.splitlines() if line.startswith("RUN systemctl mask ")]
        assert len(mask) == 1, mask
        assert set(plan.IMAGE_MASKED_UNITS) <= set(mask[0].split()[3:]), (name, mask)


def test_registry_image_dockerfile() -> None:
    from devbox.resources import role_dir

    image = images.load("registry", role_dir("registryserver") / "images")
    ctx = plan.dockerfile_context(image, "base/debian-12:bookworm", "debian", True)
    from devbox.adapters import templates

    text = templates.render("Dockerfile.j2", ctx)
    assert "docker-registry" in text and "STOPSIGNAL SIGTERM" in text
    assert 'CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]' in text
    assert "ssh" not in text.lower().replace("sshd", "")


def test_render_context_files() -> None:
    """The dev image's build context carries the SSH host-key unit and the network-wait helper
    (both ship with devbox: missing is a failure, not the other branch), and its Dockerfile
    installs them."""
    image = images.load("dev")
    assert image.ssh and image.netwait
    for name in plan.NETWAIT_FILES:
        assert (images.netwait_dir() / name).is_file(), f"roles/common/netwait/{name} missing"
    files = images.render_context(image, "base/debian-12:bookworm", "debian")
    assert (
        files[plan.SSH_HOSTKEYS_UNIT]
        == (images.shared_files_dir() / plan.SSH_HOSTKEYS_UNIT).read_bytes()
    )
    assert b"ssh-keygen -A" in files[plan.SSH_HOSTKEYS_UNIT]
    early = files[plan.SSH_EARLY_DROPIN].decode()
    assert "DefaultDependencies=no" in early
    assert "DefaultDependencies=no" in files[plan.SSH_HOSTKEYS_UNIT].decode()  # sshd waits on it
    for name in plan.NETWAIT_FILES:
        assert files[name] == (images.netwait_dir() / name).read_bytes(), name
    dockerfile = files["Dockerfile"].decode()
    assert (
        f"COPY {plan.SSH_EARLY_DROPIN} /etc/systemd/system/ssh.service.d/10-devbox-early.conf"
        in dockerfile
    )
    script, unit = plan.NETWAIT_FILES
    assert f"COPY {script} /usr/local/sbin/{script}" in dockerfile
    assert f"COPY {unit} /etc/systemd/system/{unit}" in dockerfile
    assert f"systemctl enable {unit}" in dockerfile
    for spec in image.files:
        assert files[f"files/{spec.src}"]
    # an image that does not ask for the helper gets none of it
    os_files = images.render_context(images.load("os"), "base/debian-12:bookworm", "debian")
    assert not set(plan.NETWAIT_FILES) & set(os_files)


def test_context_digest() -> None:
    files = {"Dockerfile": b"FROM x\n", "a": b"1"}
    d = plan.context_digest(files, "sha256:base1")
    assert d == plan.context_digest(dict(reversed(list(files.items()))), "sha256:base1")
    assert d != plan.context_digest(files, "sha256:base2")
    assert d != plan.context_digest({**files, "a": b"2"}, "sha256:base1")


def test_image_labels_and_refs() -> None:
    image = images.load("dev")
    labels = plan.image_labels(
        image, "debian-12", "base/debian-12:bookworm", "sha256:d", "2026-01-01T00:00:00Z", "0.1.0"
    )
    assert labels["devbox.build.kind"] == "image"
    assert labels["devbox.build.name"] == "dev"
    assert labels["devbox.build.inputs-digest"] == "sha256:d"
    assert plan.image_ref("dev") == "devbox/dev:latest"
    assert plan.image_ref("dev", "reg:5443") == "reg:5443/devbox/dev:latest"
    assert plan.image_ref("reg:5443/devbox/dev:latest", "reg:5443") == "reg:5443/devbox/dev:latest"
    assert plan.image_ref("acme/tool") == "acme/tool:latest"
    assert plan.image_tags(image, "r:1") == ["devbox/dev:latest", "r:1/devbox/dev:latest"]


@pytest.mark.parametrize(
    "text,match",
    [
        ("description='x'", "base"),
        ("base='debian-12'\n[[files]]\nsrc='../etc/passwd'\ndest='/x'", "inside"),
        ("base='debian-12'\n[[files]]\nsrc='a'\ndest='rel'", "absolute"),
        ("base='debian-12'\nuser='Root!'", "user"),
        ("base='debian-12'\npackages='vim'", "list"),
    ],
)
def test_bad_image_definitions(text: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        plan.parse_image("x", text)


def test_bad_locale_rejected() -> None:
    image = plan.parse_image("x", "base='debian-12'\nlocale='en_US; rm -rf /'")
    with pytest.raises(UserError, match="locale"):
        plan.dockerfile_context(image, "b", "debian", False)


def test_strict_templates(tmp_path: Path) -> None:
    from devbox.adapters import templates

    (tmp_path / "t.j2").write_text("hello {{ who }}\n")
    assert templates.render("t.j2", {"who": "x"}, [tmp_path]) == "hello x\n"
    with pytest.raises(UserError, match="who"):
        templates.render("t.j2", {}, [tmp_path])
    with pytest.raises(UserError, match="not found"):
        templates.render("nope.j2", {}, [tmp_path])


def test_build_step_and_layer_progress() -> None:
    assert plan.build_step("Step 3/12 : RUN apt-get update") == (3, 12, "RUN apt-get update")
    assert plan.build_step(" ---> abc") is None
    lp = plan.LayerProgress()
    assert not lp.update({"status": "The push refers to repository [r/devbox/dev]"})
    assert lp.update({"id": "aaa", "status": "Preparing"})
    assert lp.update(
        {"id": "bbb", "status": "Pushing", "progressDetail": {"current": 50, "total": 100}}
    )
    assert lp.update({"id": "aaa", "status": "Layer already exists"})
    assert lp.done == 1 and len(lp.layers) == 2
    assert lp.update(
        {"id": "bbb", "status": "Pushing", "progressDetail": {"current": 150, "total": 100}}
    )
    cur, tot = lp.totals
    assert cur <= tot
    assert not lp.update({"status": "latest: digest: sha256:x size: 1", "id": "latest"})
    assert "1/2 layers" in lp.summary()
