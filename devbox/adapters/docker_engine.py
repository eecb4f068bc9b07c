"""The Docker engine, through the docker SDK. Thin: mirrors the API, translates its errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from devbox.errors import DevboxError, NotReadyError, OperationFailed, UserError

if TYPE_CHECKING:
    import docker

ENGINE_HINT = ("start the Docker engine: systemctl start docker (or 'dockerd &'); "
               "install it with apt-get install -y docker.io")


@cache
def client() -> docker.DockerClient:
    import docker

    try:
        cl = docker.from_env(timeout=120)
        cl.ping()
    except docker.errors.DockerException as err:
        raise NotReadyError(f"Docker engine not reachable: {_short(err)}",
                            hint=ENGINE_HINT) from err
    return cl


def reset_client() -> None:
    client.cache_clear()


def engine_version() -> str:
    return str(client().version().get("Version", "unknown"))


def _short(err: BaseException) -> str:
    text = str(getattr(err, "explanation", None) or err)
    return text.splitlines()[0] if text else type(err).__name__


@contextmanager
def translate(what: str) -> Iterator[None]:
    """Turn docker SDK errors into devbox errors naming ``what`` was being done."""
    import docker
    import requests

    try:
        yield
    except DevboxError:
        raise
    except docker.errors.ImageNotFound as err:
        raise UserError(f"{what}: image not found: {_short(err)}",
                        hint="build it with 'devbox containerauthor build-image' or pull it "
                             "from the registry") from err
    except docker.errors.NotFound as err:
        raise UserError(f"{what}: not found: {_short(err)}") from err
    except docker.errors.APIError as err:
        raise OperationFailed(f"{what}: {_short(err)}") from err
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as err:
        raise NotReadyError(f"{what}: Docker engine not reachable: {_short(err)}",
                            hint=ENGINE_HINT) from err


def container_pid(name: str) -> int:
    """PID of a running container's init, for entering its namespaces."""
    with translate(f"container {name}"):
        ctr = client().containers.get(name)
        ctr.reload()
    state: dict[str, Any] = ctr.attrs.get("State", {})
    if not state.get("Running"):
        raise UserError(f"container {name} is not running",
                        hint=f"start it first (docker start {name})")
    return int(state["Pid"])
