"""Settings, declared once, and their layering.

Layers, lowest first: built-in defaults < ``/etc/devbox/config.toml`` <
``~/.config/devbox/config.toml`` < ``DEVBOX_*`` environment < command-line flags.

A setting ``lab.subnet`` lives in TOML as ``[lab] subnet = "..."`` and in the environment as
``DEVBOX_LAB_SUBNET``. The environment is passed in as a mapping so tests supply their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import UserError
from devbox.setting_kinds import PARSERS, TYPES
from devbox.settings import BY_NAME, SETTINGS, Setting

SYSTEM_CONFIG = Path("/etc/devbox/config.toml")


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "devbox" / "config.toml"


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "default", a file path, "env DEVBOX_X", "flag --x"


class Config:
    """Effective settings with where each came from."""

    def __init__(self, values: dict[str, Value], environ: Mapping[str, str]) -> None:
        self._values = values
        self.environ = environ

    def __getitem__(self, name: str) -> Any:
        return self._values[name].value

    # typed reads: each checks the setting's declared kind (the wrong getter is a TypeError)

    def text(self, name: str) -> str:
        """A setting whose kind has string values (``str``, ``subnet``, ``ifname``, ...)."""
        value: str = self._typed(name, str)
        return value

    def integer(self, name: str) -> int:
        """An ``int`` setting."""
        value: int = self._typed(name, int)
        return value

    def number(self, name: str) -> float:
        """A ``float`` setting."""
        return float(self._typed(name, float))

    def flag(self, name: str) -> bool:
        """A ``bool`` setting."""
        value: bool = self._typed(name, bool)
        return value

    def path(self, name: str) -> Path:
        """A ``path`` setting."""
        value: Path = self._typed(name, Path)
        return value

    def _typed(self, name: str, want: type) -> Any:
        kind = BY_NAME[name].kind
        have = TYPES[kind]
        if have is not want:
            raise TypeError(
                f"setting '{name}' is of kind '{kind}' ({have.__name__} values): read it with "
                f"Config.{_GETTER[have]}(), not Config.{_GETTER[want]}()"
            )
        value = self[name]
        ok = isinstance(value, want) and (want is bool or not isinstance(value, bool))
        if not ok and not (want is float and type(value) is int):
            raise TypeError(f"setting '{name}' holds {value!r}, not a {want.__name__}")
        return value

    def source(self, name: str) -> str:
        return self._values[name].source

    def items(self) -> list[tuple[Setting, Value]]:
        return [(s, self._values[s.name]) for s in SETTINGS]

    @property
    def root(self) -> Path:
        return self.path("root")

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "flag") -> Config:
        values = dict(self._values)
        for name, raw in overrides.items():
            if raw is None:
                continue
            setting = _lookup(name, where=source)
            values[name] = Value(_parse(setting, raw, where=source), source)
        return Config(values, self.environ)


_GETTER: dict[type, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "flag",
    Path: "path",
}


def _lookup(name: str, where: str) -> Setting:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UserError(
            f"{where}: unknown setting '{name}'",
            hint="run 'devbox common config show' to list the settings",
        ) from None


def _parse(setting: Setting, raw: Any, where: str) -> Any:
    try:
        return PARSERS[setting.kind](raw)
    except ValueError as err:
        raise UserError(
            f"{where}: bad value for '{setting.name}': {err}",
            hint=f"{setting.name}: {setting.help}",
        ) from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in table.items():
        name = f"{prefix}{key}"
        if isinstance(val, dict):
            out.update(_flatten(val, prefix=f"{name}."))
        else:
            out[name] = val
    return out


def read_file(path: Path) -> dict[str, Any]:
    """Read one TOML layer; a broken file is a user error naming the file."""
    from devbox.textfile import read_user_text

    try:
        text = read_user_text(path, "config file", "it must be a TOML file; fix or remove it")
    except FileNotFoundError:
        return {}
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}", hint="fix or remove the file") from None
    data.pop("hosts", None)  # [hosts.NAME]: other hosts (devbox.state.host_list), not settings
    return _flatten(data)


def load(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    files: tuple[Path, ...] | None = None,
) -> Config:
    """Build the effective config from every layer."""
    env = os.environ if environ is None else environ
    if files is None:
        files = (SYSTEM_CONFIG, user_config_path(env))
    values = {
        s.name: Value(s.default if s.kind != "path" else Path(s.default), "default")
        for s in SETTINGS
    }
    for path in files:
        for name, raw in read_file(path).items():
            setting = _lookup(name, where=str(path))
            values[name] = Value(_parse(setting, raw, where=f"{path}: key '{name}'"), str(path))
    for setting in SETTINGS:
        if setting.env in env:
            where = f"env {setting.env}"
            values[setting.name] = Value(_parse(setting, env[setting.env], where=where), where)
    return Config(values, env).with_overrides(overrides or {})
