"""The devbox service holds every lease for as long as the host runs: what it has loaded stays
resident (issue 17: <= 60 MB with 50 leases). Read from the running service's
``/proc/PID/maps`` (the shared libraries it has mapped), after it has answered the quick
requests and the connect relay and holds a lease on its DHCP loop:

- no paramiko stack (cryptography's ``_rust.abi3.so``, PyNaCl's ``_sodium``, bcrypt's
  ``_bcrypt``): docker-py imports paramiko only for its ``ssh://`` transport, and nothing the
  service answers itself needs it (jobs do: the forkserver imports it);
- no sqlite3 (``_sqlite3``): pyroute2's ``__init__`` imports NDB, which the service never uses;
- no charset_normalizer (its compiled ``cd``/``md``): requests imports it to guess the
  encoding of a reply whose headers name none; the engine's replies are JSON.

Counted, not timed; the figure itself is bench/scale.py's (service RSS with N up).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests import waits
from tests.fixtures.lab import LabEnv, adopted

pytestmark = pytest.mark.integration

# a shared library's file name -> the library that maps it
ONLY_JOBS_NEED = {
    "_rust.abi3.so": "cryptography (paramiko's)",
    "_sodium.abi3.so": "PyNaCl (paramiko's)",
    "_bcrypt.abi3.so": "bcrypt (paramiko's)",
    "_sqlite3": "sqlite3 (pyroute2's NDB)",
}
# a folder in a shared library's path -> the library
ONLY_JOBS_NEED_DIRS = {"/charset_normalizer/": "charset_normalizer (requests' encoding guess)"}


def mapped_paths(pid: int) -> set[str]:
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and ".so" in parts[5]:
            paths.add(parts[5].strip())
    return paths


def mapped_libraries(pid: int) -> set[str]:
    return {os.path.basename(path) for path in mapped_paths(pid)}


def unwanted(pid: int) -> list[str]:
    by_name = [
        f"{what}: {name}"
        for name in mapped_libraries(pid)
        for key, what in ONLY_JOBS_NEED.items()
        if name.startswith(key)
    ]
    by_dir = [
        f"{what}: {path}"
        for path in mapped_paths(pid)
        for folder, what in ONLY_JOBS_NEED_DIRS.items()
        if folder in path
    ]
    return sorted(by_name + by_dir)


async def relay_once(socket_path: Path, name: str, port: int) -> Any:
    """One connect relay through the service (the WebSocket ``net connect`` uses): the
    service dials the container's LAN address; nothing listens there, so it ends at once."""
    import aiohttp

    from devbox.api import protocol

    url = f"http://localhost{protocol.PREFIX}/containers/{name}/connect"
    headers = {protocol.VERSION_HEADER: str(protocol.API_VERSION)}
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket_path))) as s:
        try:
            async with s.ws_connect(url, params={"port": str(port)}, headers=headers) as ws:
                msg = await asyncio.wait_for(ws.receive(), 20)
                return msg.type
        except aiohttp.WSServerHandshakeError as err:  # refused before the upgrade: also fine
            return err.status


def test_the_service_loads_nothing_only_jobs_need(
    lab: LabEnv, lab_container: Any, daemon: int
) -> None:
    from devbox.api import protocol
    from devbox.api.client import Client
    from devbox.errors import DevboxError
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    network.attach(cfg, ctr.name)
    waits.wait_for(lambda: adopted(lab, ctr.name), 30, "the lease adopted by the service")
    assert mapped_libraries(daemon), "no shared library read from /proc/PID/maps"

    socket_path = protocol.socket_path(cfg.root, str(cfg["service.socket"]))
    api = Client(socket_path)
    try:
        # the quick reads the service answers itself (root, no settings of its own)
        assert api.get("/version")["api"] == protocol.API_VERSION
        for path, params in [
            ("/whoami", {}),
            ("/host", {}),
            ("/containers", {"all": True, "no_size": False, "mine": False}),
            (f"/containers/{ctr.name}", {}),
            (f"/containers/{ctr.name}/reach", {"port": 22}),
            ("/stats", {}),
            ("/net", {}),
            ("/lab", {}),
            ("/images", {}),
        ]:
            try:
                api.get(path, **params)
            except DevboxError:  # a refusal (a busybox container is no dev container) counts
                pass
    finally:
        api.close()
    asyncio.run(relay_once(socket_path, ctr.name, 9))

    assert unwanted(daemon) == [], "the service loaded what only jobs need"
    assert network.wait_attached(cfg, ctr.name, timeout=10).ip  # and it holds the lease
    network.detach(cfg, ctr.name)
