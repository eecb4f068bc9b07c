"""Which Perforce server, user and workspace: :class:`P4Settings` from devbox's config (or
P4PORT/P4USER/P4CHARSET/P4TICKETS; P4CONFIG files are never read), the one workspace name
per container, :func:`workspace_name`, and the P4 factory the ``p4.factory`` setting names,
:func:`factory_from`."""

from __future__ import annotations

import importlib
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devbox.errors import NotReadyError, UserError

if TYPE_CHECKING:
    from devbox.config import Config

_NAME_PART = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class P4Settings:
    port: str = ""
    user: str = ""
    charset: str = ""
    client_prefix: str = "devbox"
    options: str = "allwrite clobber nocompress unlocked nomodtime rmdir"
    ticket_file: str = ""  # empty: the P4 API's default ($P4TICKETS or ~/.p4tickets)
    factory: str = ""  # p4.factory: "module:callable" making the P4 object; empty: P4.P4

    @classmethod
    def from_config(cls, cfg: Config) -> P4Settings:
        env: Mapping[str, str] = cfg.environ
        return cls(
            port=cfg.text("p4.port") or env.get("P4PORT", ""),
            user=cfg.text("p4.user") or env.get("P4USER", ""),
            charset=cfg.text("p4.charset") or env.get("P4CHARSET", ""),
            client_prefix=cfg.text("p4.client_prefix"),
            options=cfg.text("p4.options"),
            ticket_file=cfg.text("p4.tickets") or env.get("P4TICKETS", ""),
            factory=cfg.text("p4.factory"),
        )


def workspace_name(prefix: str, container: str, host: str | None = None) -> str:
    """``<prefix>-<host>-<container>``: one Perforce client workspace per container."""
    short = (host or socket.gethostname()).split(".")[0]
    parts = [_NAME_PART.sub("-", p).strip("-") for p in (prefix, short, container)]
    return "-".join(p for p in parts if p)


_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"  # a dotted Python name
_FACTORY_SPEC = re.compile(f"{_NAME}:{_NAME}", re.ASCII)


def factory_from(spec: str) -> Callable[[], Any] | None:
    """The P4 factory the ``p4.factory`` setting names: ``module:callable`` (imported here),
    called once per connection; empty: None (the adapter's ``default_factory``, ``P4.P4``).

    The setting comes from the service's own settings or root's CLI only (the service takes
    settings from uid 0 alone), never from another user: importing it runs its code as root.
    P4CONFIG is dropped from the environment before the callable runs, as for ``P4.P4``.
    """
    if not spec:
        return None
    hint = "p4.factory (DEVBOX_P4_FACTORY) is 'package.module:callable', importable by devbox"
    if not _FACTORY_SPEC.fullmatch(spec):
        raise UserError(f"p4.factory must be 'module:callable', got {spec!r}", hint=hint)
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise NotReadyError(
            f"p4.factory {spec}: cannot import {module_name}: {err}",
            hint="the module must be on the devbox service's Python path (sys.path of the "
            "service and its jobs); or empty p4.factory for P4Python's P4.P4",
        ) from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UserError(f"p4.factory {spec}: {module_name} has no {attr}", hint=hint) from None
    if not callable(target):
        raise UserError(f"p4.factory {spec}: {attr} is not callable", hint=hint)
    named: Callable[[], Any] = target

    def make() -> Any:
        os.environ.pop("P4CONFIG", None)
        return named()

    return make
