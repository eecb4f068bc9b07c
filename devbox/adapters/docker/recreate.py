"""One container made again from another image with everything else the same (a restore of
a snapshot): its name, labels, host config (binds, cgroup parent, limits, tmpfs, network
mode), command and environment, through the docker SDK's low-level API."""

from __future__ import annotations

from typing import Any

from devbox.adapters.docker.engine import client, translate


def rename(name: str, new_name: str) -> None:
    with translate(f"rename container {name} to {new_name}"):
        client().api.rename(name, new_name)


def create_like(attrs: dict[str, Any], name: str, image: str) -> str:
    """Create (not start) container ``name`` from ``image`` with the config and host config
    of the container ``attrs`` (``docker inspect``) describes. Returns its id."""
    cfg = attrs.get("Config") or {}
    host = dict(attrs.get("HostConfig") or {})
    volumes = list((cfg.get("Volumes") or {}).keys())
    with translate(f"create container {name} from {image}"):
        made = client().api.create_container(
            image,
            name=name,
            command=cfg.get("Cmd"),
            entrypoint=cfg.get("Entrypoint"),
            hostname=cfg.get("Hostname") or None,
            domainname=cfg.get("Domainname") or None,
            user=cfg.get("User") or None,
            environment=cfg.get("Env"),
            working_dir=cfg.get("WorkingDir") or None,
            labels=dict(cfg.get("Labels") or {}),
            stop_signal=cfg.get("StopSignal") or None,
            stop_timeout=cfg.get("StopTimeout"),
            tty=bool(cfg.get("Tty")),
            stdin_open=bool(cfg.get("OpenStdin")),
            volumes=volumes or None,
            network_disabled=bool(cfg.get("NetworkDisabled")),
            mac_address=cfg.get("MacAddress") or None,
            healthcheck=cfg.get("Healthcheck"),
            host_config=host,
        )
    return str(made.get("Id", ""))


def remove_only(name: str) -> bool:
    """Force-remove one container and nothing else (its cgroup folders stay: they are the
    name's, which another container of that name uses). False when there was none."""
    import docker

    with translate(f"remove container {name}"):
        try:
            client().api.remove_container(name, force=True, v=True)
        except docker.errors.NotFound:
            return False
    return True


def image_tags(*label: str) -> list[tuple[str, list[str]]]:
    """(image id, its tags) of every image carrying each ``label`` (``key=value``)."""
    with translate("list images"):
        found = client().api.images(filters={"label": list(label)})
    return [(str(img.get("Id", "")), list(img.get("RepoTags") or [])) for img in found]


def remove_images(*label: str, repository: str) -> list[str]:
    """Untag every tag in ``repository`` of the images carrying each ``label``; the engine
    drops an image with its last tag (and its untagged parents). Returns the tags removed."""
    from devbox.adapters.docker.engine import remove_image

    removed = []
    for _image_id, tags in image_tags(*label):
        for ref in tags:
            if ref.startswith(repository + ":") and remove_image(ref):
                removed.append(ref)
    return removed
