"""The registry's v2 HTTP API, over TLS verified with devbox's CA, with basic auth."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import OperationFailed

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


@dataclass(frozen=True)
class Endpoint:
    address: str  # HOST:PORT
    tls: bool = True
    ca_file: Path | None = None
    user: str = ""
    password: str = ""

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _context(ep: Endpoint) -> ssl.SSLContext | None:
    if not ep.tls:
        return None
    ctx = ssl.create_default_context(cafile=str(ep.ca_file) if ep.ca_file else None)
    return ctx


def request(ep: Endpoint, path: str, method: str = "GET", timeout: float = 10.0,
            accept: str | None = None, auth: bool = True) -> Reply:
    """One API call. HTTP error statuses come back as a Reply; no answer raises."""
    headers = {"User-Agent": "devbox"}
    if accept:
        headers["Accept"] = accept
    if auth and ep.user:
        token = base64.b64encode(f"{ep.user}:{ep.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(ep.base + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=_context(ep)) as resp:
            return Reply(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers.items()) if err.headers else {}, err.read())
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        raise OperationFailed(f"registry {ep.address} not reachable: {reason}",
                              hint="is it up? devbox registryserver status") from err


def ping(ep: Endpoint, timeout: float = 3.0) -> int:
    """Status of ``GET /v2/`` without credentials: 401 (auth on) or 200 means it answers."""
    return request(ep, "/v2/", timeout=timeout, auth=False).status


def _ok(ep: Endpoint, reply: Reply, what: str) -> Reply:
    if reply.status == 401:
        raise OperationFailed(f"registry {ep.address}: {what}: authentication failed")
    if reply.status >= 400:
        raise OperationFailed(f"registry {ep.address}: {what}: HTTP {reply.status}")
    return reply


def catalog(ep: Endpoint, limit: int = 1000) -> list[str]:
    reply = _ok(ep, request(ep, f"/v2/_catalog?n={limit}"), "list repositories")
    return sorted(reply.json().get("repositories") or [])


def tags(ep: Endpoint, repository: str) -> list[str]:
    reply = request(ep, f"/v2/{repository}/tags/list")
    if reply.status == 404:
        return []
    return sorted(_ok(ep, reply, f"list tags of {repository}").json().get("tags") or [])


def manifest_digest(ep: Endpoint, repository: str, tag: str) -> str:
    reply = _ok(ep, request(ep, f"/v2/{repository}/manifests/{tag}", method="HEAD",
                            accept=MANIFEST_TYPES), f"manifest {repository}:{tag}")
    for key, value in reply.headers.items():
        if key.lower() == "docker-content-digest":
            return value
    return ""
