"""What every command needs: the effective config and the console. Built once per process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devbox.cli.ui.console import UI
    from devbox.config import Config

_overrides: dict[str, Any] = {}
_config: Config | None = None


def set_global_overrides(root: Path | None, host: str | None = None) -> None:
    global _config
    if root is not None:
        _overrides["root"] = str(root)
    if host is not None:
        _overrides["host"] = host
    _config = None


def overrides() -> dict[str, Any]:
    """The global flags' setting overrides (``--root``): root's CLI sends them along."""
    return dict(_overrides)


def config(**flags: Any) -> Config:
    """The effective config; ``flags`` are this command's setting overrides (None = not given)."""
    global _config
    from devbox import config as cfgmod

    if _config is None:
        _config = cfgmod.load(overrides=_overrides)
    given = {k.replace("__", "."): v for k, v in flags.items() if v is not None}
    return _config.with_overrides(given) if given else _config


def ui() -> UI:
    from devbox.cli.ui.console import ui as get_ui

    return get_ui()


def abort(message: str, hint: str | None = None) -> None:
    from devbox.errors import UserError

    raise UserError(message, hint)
