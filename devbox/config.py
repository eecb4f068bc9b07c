"""Settings, declared once, and their layering.

Layers, lowest first: built-in defaults < ``/etc/devbox/config.toml`` <
``~/.config/devbox/config.toml`` < ``DEVBOX_*`` environment < command-line flags.

A setting ``lab.subnet`` lives in TOML as ``[lab] subnet = "..."`` and in the environment as
``DEVBOX_LAB_SUBNET``. The environment is passed in as a mapping so tests supply their own.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import UserError


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None


def _parse_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {raw!r}") from None


def _parse_str(raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError(f"expected a string, got {raw!r}")
    return str(raw)


def _parse_path(raw: Any) -> Path:
    text = _parse_str(raw)
    if not text:
        raise ValueError("expected a path, got an empty string")
    return Path(text).expanduser()


def _parse_net(raw: Any) -> str:
    text = _parse_str(raw)
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as err:
        raise ValueError(f"expected an IPv4 subnet like 10.213.0.0/24: {err}") from None
    if net.prefixlen > 29:
        raise ValueError(f"subnet {text} is too small (need at least a /29)")
    return str(net)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "bool": _parse_bool,
    "int": _parse_int,
    "float": _parse_float,
    "str": _parse_str,
    "path": _parse_path,
    "subnet": _parse_net,
}


@dataclass(frozen=True)
class Setting:
    """One setting: declared once, documented once."""

    name: str
    kind: str  # a key of PARSERS
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "DEVBOX_" + self.name.upper().replace(".", "_").replace("-", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting("root", "path", "/opt/containers",
            "Where devbox keeps per-container /opt trees, leases, logs and the lab state."),
    Setting("parent", "str", "",
            "Host NIC that container LAN interfaces hang off (macvlan parent). "
            "Empty: the lab LAN uplink."),
    Setting("dhcp_timeout", "float", 10.0, "Seconds to wait for a DHCP lease before failing."),
    Setting("ifname", "str", "lan0", "Name of the LAN interface inside containers."),
    Setting("shim_address", "str", "",
            "Host-side address (CIDR, e.g. 192.168.1.250/24) for a macvlan shim on a real "
            "'parent', so the host reaches its containers' LAN addresses. Empty: connections "
            "to containers are opened inside their network namespace instead."),
    Setting("labels", "str", "",
            "Extra labels for every container devbox makes, as key=value,key=value."),
    Setting("ssh_timeout", "float", 60.0,
            "Seconds to wait for a new container's sshd to answer."),
    Setting("image", "str", "dev", "Image a dev container runs when neither --image nor the "
            "branch map names one."),
    Setting("lab.name", "str", "devbox-lab",
            "Network namespace holding the lab LAN's DHCP server."),
    Setting("lab.uplink", "str", "dbx-lab0",
            "Host end of the lab veth pair; the default macvlan parent."),
    Setting("lab.subnet", "subnet", "10.213.0.0/24", "Lab LAN subnet (IPv4)."),
    Setting("lab.range_start", "int", 100, "First host number handed out by the lab DHCP server."),
    Setting("lab.range_end", "int", 250, "Last host number handed out by the lab DHCP server."),
    Setting("lab.lease_time", "str", "12h",
            "Lab DHCP lease time in dnsmasq syntax (2m is dnsmasq's minimum)."),
    Setting("lab.domain", "str", "lab", "DNS domain served on the lab LAN."),
    Setting("lab.dnsmasq", "str", "dnsmasq",
            "The lab's DHCP server program: a name looked up on PATH, or a path."),
    Setting("lab.ping_check", "bool", False,
            "Let the lab dnsmasq ping-check new addresses (costs ~3 s per new address)."),
    Setting("registry.address", "str", "",
            "Private registry as HOST:PORT; empty: none configured (images stay local)."),
    Setting("registry.port", "int", 5443, "Port the registry server listens on."),
    Setting("registry.storage", "path", "/opt/registry",
            "Registry blob storage on the host; survives down/up."),
    Setting("registry.image", "str", "",
            "Registry image to run; empty: build devbox/registry from the Debian base."),
    Setting("registry.name", "str", "devbox-registry",
            "Container name of the registry server this host runs."),
    Setting("registry.network", "str", "devbox-registry",
            "Docker network (user-defined bridge) the registry container sits on; its port "
            "is published on the host."),
    Setting("registry.tls", "bool", True,
            "Serve the registry over TLS with devbox's own CA (off: plain HTTP, insecure)."),
    Setting("mirror.debian", "str", "http://deb.debian.org/debian",
            "Debian mirror for debootstrap."),
    Setting("mirror.ubuntu", "str", "http://archive.ubuntu.com/ubuntu",
            "Ubuntu mirror for debootstrap."),
    Setting("mirror.rocky", "str", "https://dl.rockylinux.org/pub/rocky",
            "Rocky Linux mirror for dnf --installroot."),
    Setting("mirror.centos", "str", "https://vault.centos.org",
            "CentOS mirror for yum --installroot."),
    Setting("p4.port", "str", "", "Perforce server (P4PORT); empty: from P4CONFIG/environment."),
    Setting("p4.user", "str", "", "Perforce user (P4USER); empty: from P4CONFIG/environment."),
    Setting("p4.client_prefix", "str", "devbox", "Prefix of per-container Perforce workspaces."),
    Setting("p4.charset", "str", "", "Perforce charset (P4CHARSET); empty: server default."),
    Setting("p4.options", "str", "allwrite clobber nocompress unlocked nomodtime rmdir",
            "Options of per-container Perforce workspaces."),
    Setting("branches.map", "str", "",
            "Branch map file (TOML); empty: roles/dockeruser/branches.toml."),
    Setting("products.map", "str", "",
            "Product release map for combos (TOML); empty: roles/dockeruser/products.toml."),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

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

    def source(self, name: str) -> str:
        return self._values[name].source

    def items(self) -> list[tuple[Setting, Value]]:
        return [(s, self._values[s.name]) for s in SETTINGS]

    @property
    def root(self) -> Path:
        return Path(self["root"])

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "flag") -> Config:
        values = dict(self._values)
        for name, raw in overrides.items():
            if raw is None:
                continue
            setting = _lookup(name, where=source)
            values[name] = Value(_parse(setting, raw, where=source), source)
        return Config(values, self.environ)


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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise UserError(f"{path}: cannot read config file (permission denied)") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}", hint="fix or remove the file") from None
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
    values = {s.name: Value(s.default if s.kind != "path" else Path(s.default), "default")
              for s in SETTINGS}
    for path in files:
        for name, raw in read_file(path).items():
            setting = _lookup(name, where=str(path))
            values[name] = Value(_parse(setting, raw, where=f"{path}: key '{name}'"), str(path))
    for setting in SETTINGS:
        if setting.env in env:
            where = f"env {setting.env}"
            values[setting.name] = Value(_parse(setting, env[setting.env], where=where), where)
    return Config(values, env).with_overrides(overrides or {})
