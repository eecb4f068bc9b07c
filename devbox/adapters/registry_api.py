"""The registry's v2 HTTP API, over TLS verified with devbox's CA, with basic auth.

Credentials go only to the endpoint's own origin (scheme, host, port): a redirect elsewhere is
followed without them, a redirect from https to http (or to any scheme but http/https) is
refused.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import OperationFailed

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, carrying the Authorization header only within ``origin``."""

    def __init__(self, ep: Endpoint, authorization: str) -> None:
        super().__init__()
        self.ep = ep
        self.origin = _origin(ep.base)
        self.authorization = authorization

    def _check(self, req: urllib.request.Request, newurl: str) -> None:
        old, new = _origin(req.full_url), _origin(urllib.parse.urljoin(req.full_url, newurl))
        if new[0] not in ("http", "https") or (old[0] == "https" and new[0] != "https"):
            raise OperationFailed(
                f"registry {self.ep.address}: refused a redirect from {old[0]} to "
                f"{new[0] or 'no scheme'}://{new[1]}",
                hint="the registry (or something in between) redirects off TLS; check "
                "registry.address",
            )

    def http_error_302(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any
    ) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            self._check(req, location)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        self._check(req, newurl)
        newreq = super().redirect_request(req, fp, code, msg, headers, newurl)
        # the credentials were added unredirected: only the registry's own origin gets them
        same_origin = _origin(urllib.parse.urljoin(req.full_url, newurl)) == self.origin
        if newreq is not None and self.authorization and same_origin:
            newreq.add_unredirected_header("Authorization", self.authorization)
        return newreq


def request(
    ep: Endpoint,
    path: str,
    method: str = "GET",
    timeout: float = 10.0,
    accept: str | None = None,
    auth: bool = True,
) -> Reply:
    """One API call. HTTP error statuses come back as a Reply; no answer raises."""
    headers = {"User-Agent": "devbox"}
    if accept:
        headers["Accept"] = accept
    authorization = ""
    if auth and ep.user:
        token = base64.b64encode(f"{ep.user}:{ep.password}".encode()).decode()
        authorization = f"Basic {token}"
    req = urllib.request.Request(ep.base + path, method=method, headers=headers)
    if authorization:
        req.add_unredirected_header("Authorization", authorization)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_context(ep)), _Redirects(ep, authorization)
    )
    try:
        with opener.open(req, timeout=timeout) as resp:
            return Reply(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers.items()) if err.headers else {}, err.read())
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        raise OperationFailed(
            f"registry {ep.address} not reachable: {reason}",
            hint="is it up? devbox registryserver status",
        ) from err


def ping(ep: Endpoint, timeout: float = 3.0) -> int:
    """Status of ``GET /v2/`` without credentials: 401 (auth on) or 200 means it answers."""
    return request(ep, "/v2/", timeout=timeout, auth=False).status


def _ok(ep: Endpoint, reply: Reply, what: str) -> Reply:
    if reply.status == 401:
        raise OperationFailed(f"registry {ep.address}: {what}: authentication failed")
    if reply.status >= 300:
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
    reply = _ok(
        ep,
        request(ep, f"/v2/{repository}/manifests/{tag}", method="HEAD", accept=MANIFEST_TYPES),
        f"manifest {repository}:{tag}",
    )
    for key, value in reply.headers.items():
        if key.lower() == "docker-content-digest":
            return value
    return ""
