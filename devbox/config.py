"""Settings, declared once, and their layering.

Layers, lowest first: built-in defaults < ``/etc/devbox/config.toml`` <
``~/.config/devbox/config.toml`` < ``DEVBOX_*`` environment < command-line flags.

A setting ``lab.subnet`` lives in TOML as ``[lab] subnet = "..."`` and in the environment as
``DEVBOX_LAB_SUBNET``. The environment is passed in as a mapping so tests supply their own.
"""

from __future__ import annotations

import ipaddress
import os
import re
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _parse_str(raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError(f"expected a string, got {raw!r}")
    text = str(raw)
    # no setting is ever more than one line: a newline would add a line of its own to the
    # file (dnsmasq.conf, a systemd unit, a Perforce spec) or command line the value lands in
    if _CONTROL.search(text):
        raise ValueError(f"control characters (newline, tab, ...) are not allowed: {text!r}")
    return text


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


# Kinds for settings that become names, addresses or lines in rendered files: always a FULL
# match (re.fullmatch), never re.match with "$", which lets a trailing newline through.
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,15}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_HOSTPORT_RE = re.compile(
    rf"(?:\[([0-9A-Fa-f:.]+)\]|({_DNS_LABEL}(?:\.{_DNS_LABEL})*)):(\d{{1,5}})"
)
_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}")
_URL_RE = re.compile(r"(?:https?|file)://[!-~]+")
_PROGRAM_RE = re.compile(r"[A-Za-z0-9_./+-]{1,4096}")
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _matching(
    pattern: re.Pattern[str], expected: str, check: Callable[[str], bool] | None = None
) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = _parse_str(raw)
        if not pattern.fullmatch(text) or (check is not None and not check(text)):
            raise ValueError(f"expected {expected}, got {text!r}")
        return text

    return parse


def _or_empty(parse: Callable[[Any], str]) -> Callable[[Any], str]:
    def parse_optional(raw: Any) -> str:
        text = _parse_str(raw)
        return text if text == "" else parse(text)

    return parse_optional


def _port_ok(text: str) -> bool:
    m = _HOSTPORT_RE.fullmatch(text)
    return m is not None and 0 < int(m.group(3)) < 65536


def _parse_cidr(raw: Any) -> str:
    text = _parse_str(raw)
    try:
        if "/" not in text:
            raise ValueError("no prefix length")
        ipaddress.IPv4Interface(text)
    except ValueError as err:
        raise ValueError(
            f"expected an address with prefix like 192.168.1.250/24, got {text!r}: {err}"
        ) from None
    return text


_parse_domain = _matching(
    _DOMAIN_RE, "a DNS domain like lab or lab.example.com", lambda t: len(t) <= 253
)


def _parse_ifname(raw: Any) -> str:
    text = _parse_str(raw)
    if not _IFNAME_RE.fullmatch(text) or text in {".", ".."}:
        raise ValueError(
            f"{text!r} is not a valid interface name (1-15 characters: letters, "
            "digits, '.', '_', '-', '@', '+')"
        )
    return text


_parse_name = _matching(_NAME_RE, "a name of letters, digits, '_', '.' and '-'")
_parse_hostport = _matching(_HOSTPORT_RE, "HOST:PORT", _port_ok)
_parse_image = _matching(_IMAGE_RE, "an image reference like dev or reg:5000/devbox/dev:1")
_parse_url = _matching(_URL_RE, "an http://, https:// or file:// URL without spaces")
_parse_program = _matching(_PROGRAM_RE, "a program name or path, without spaces or options")
_parse_word = _matching(_WORD_RE, "letters, digits, '.', '_' and '-' (at most 63)")


def _limit_parser(parse: Callable[[Any], Any], auto: bool, empty: str = "") -> Callable[[Any], Any]:
    """A ``limits.*`` value (``auto`` where allowed, ``empty`` for "none" where given),
    checked by devbox.limits' own parser."""

    def parse_limit(raw: Any) -> str:
        text = _parse_str(raw)
        if (auto and text == "auto") or (empty and text == empty):
            return text
        try:
            parse(text)
        except UserError as err:
            raise ValueError(err.message) from None
        return text

    return parse_limit


def _limits_parsers() -> dict[str, Callable[[Any], Any]]:
    from devbox.model import limits

    return {
        "memory_or_auto": _limit_parser(limits.parse_memory, auto=True),
        "memory": _limit_parser(limits.parse_memory, auto=False),
        "cpus_or_auto": _limit_parser(limits.parse_cpus, auto=True),
        "memory_or_none": _limit_parser(limits.parse_memory, auto=False, empty="none"),
        "cpus_or_none": _limit_parser(limits.parse_cpus, auto=False, empty="none"),
    }


PARSERS: dict[str, Callable[[Any], Any]] = {
    "bool": _parse_bool,
    "int": _parse_int,
    "float": _parse_float,
    "str": _parse_str,
    "path": _parse_path,
    "subnet": _parse_net,
    "domain": _parse_domain,
    "ifname": _parse_ifname,
    "ifname_or_empty": _or_empty(_parse_ifname),
    "name": _parse_name,
    "name_or_empty": _or_empty(_parse_name),
    "hostport_or_empty": _or_empty(_parse_hostport),
    "cidr_or_empty": _or_empty(_parse_cidr),
    "image": _parse_image,
    "image_or_empty": _or_empty(_parse_image),
    "url": _parse_url,
    "program": _parse_program,
    "word": _parse_word,
    **_limits_parsers(),
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
    Setting(
        "root",
        "path",
        "/opt/containers",
        "Where devbox keeps per-container /opt trees, leases, logs and the lab state.",
    ),
    Setting(
        "parent",
        "ifname_or_empty",
        "",
        "Host NIC that container LAN interfaces hang off (macvlan parent). "
        "Empty: the lab LAN uplink.",
    ),
    Setting("dhcp_timeout", "float", 10.0, "Seconds to wait for a DHCP lease before failing."),
    Setting("ifname", "ifname", "lan0", "Name of the LAN interface inside containers."),
    Setting(
        "shim_address",
        "cidr_or_empty",
        "",
        "Host-side address (CIDR, e.g. 192.168.1.250/24) for a macvlan shim on a real "
        "'parent', so the host reaches its containers' LAN addresses. Empty: connections "
        "to containers are opened inside their network namespace instead.",
    ),
    Setting(
        "labels",
        "str",
        "",
        "Extra labels for every container devbox makes, as key=value,key=value.",
    ),
    Setting("ssh_timeout", "float", 60.0, "Seconds to wait for a new container's sshd to answer."),
    Setting(
        "image",
        "image",
        "dev",
        "Image a dev container runs when neither --image nor the branch map names one.",
    ),
    Setting(
        "limits.memory",
        "memory_or_auto",
        "auto",
        "Memory limit of each container (e.g. 4g; no swap on top). auto: the host's memory "
        "less limits.host_reserve. The branch and product maps and --memory override it.",
    ),
    Setting(
        "limits.cpus",
        "cpus_or_auto",
        "auto",
        "CPU limit of each container (e.g. 2 or 0.5). auto: all CPUs but one (at least 1).",
    ),
    Setting(
        "limits.pids",
        "int",
        4096,
        "Process (PID) limit of each container: a fork bomb stops there.",
    ),
    Setting(
        "limits.host_reserve",
        "memory",
        "2g",
        "Memory kept back for the host itself: no container may be promised more than the "
        "host's total less this.",
    ),
    Setting(
        "lab.name", "name", "devbox-lab", "Network namespace holding the lab LAN's DHCP server."
    ),
    Setting(
        "lab.uplink",
        "ifname",
        "dbx-lab0",
        "Host end of the lab veth pair; the default macvlan parent.",
    ),
    Setting("lab.subnet", "subnet", "10.213.0.0/24", "Lab LAN subnet (IPv4)."),
    Setting("lab.range_start", "int", 100, "First host number handed out by the lab DHCP server."),
    Setting("lab.range_end", "int", 250, "Last host number handed out by the lab DHCP server."),
    Setting(
        "lab.lease_time",
        "str",
        "12h",
        "Lab DHCP lease time in dnsmasq syntax (2m is dnsmasq's minimum).",
    ),
    Setting("lab.domain", "domain", "lab", "DNS domain served on the lab LAN."),
    Setting(
        "lab.dnsmasq",
        "program",
        "dnsmasq",
        "The lab's DHCP server program: a name looked up on PATH, or a path.",
    ),
    Setting(
        "lab.ping_check",
        "bool",
        False,
        "Let the lab dnsmasq ping-check new addresses (costs ~3 s per new address).",
    ),
    Setting(
        "registry.address",
        "hostport_or_empty",
        "",
        "Private registry as HOST:PORT; empty: none configured (images stay local).",
    ),
    Setting("registry.port", "int", 5443, "Port the registry server listens on."),
    Setting(
        "registry.storage",
        "path",
        "/opt/registry",
        "Registry blob storage on the host; survives down/up.",
    ),
    Setting(
        "registry.image",
        "image_or_empty",
        "",
        "Registry image to run; empty: build devbox/registry from the Debian base.",
    ),
    Setting(
        "registry.name",
        "name",
        "devbox-registry",
        "Container name of the registry server this host runs.",
    ),
    Setting(
        "registry.network",
        "name_or_empty",
        "devbox-registry",
        "Docker network (user-defined bridge) the registry container sits on; its port "
        "is published on the host.",
    ),
    Setting(
        "registry.tls",
        "bool",
        True,
        "Serve the registry over TLS with devbox's own CA (off: plain HTTP, insecure).",
    ),
    # /opt seeds fetched from a URL (roles/dockeruser/opt-seeds.toml, --opt-seed)
    Setting(
        "seeds.max_bytes",
        "int",
        4 * 1024**3,
        "Largest /opt seed download accepted from a URL, in bytes (default 4 GiB).",
    ),
    Setting(
        "seeds.timeout",
        "float",
        1800.0,
        "Overall time limit, in seconds, for downloading one /opt seed from a URL.",
    ),
    Setting(
        "seeds.ca_file",
        "str",
        "",
        "CA bundle (PEM) that https seed servers are verified with; empty: the system's.",
    ),
    Setting(
        "mirror.debian", "url", "http://deb.debian.org/debian", "Debian mirror for debootstrap."
    ),
    Setting(
        "mirror.ubuntu", "url", "http://archive.ubuntu.com/ubuntu", "Ubuntu mirror for debootstrap."
    ),
    Setting(
        "mirror.rocky",
        "url",
        "https://dl.rockylinux.org/pub/rocky",
        "Rocky Linux mirror for dnf --installroot.",
    ),
    Setting(
        "mirror.centos", "url", "https://vault.centos.org", "CentOS mirror for yum --installroot."
    ),
    Setting("p4.port", "str", "", "Perforce server (P4PORT); empty: from P4CONFIG/environment."),
    Setting("p4.user", "str", "", "Perforce user (P4USER); empty: from P4CONFIG/environment."),
    Setting("p4.client_prefix", "word", "devbox", "Prefix of per-container Perforce workspaces."),
    Setting("p4.charset", "str", "", "Perforce charset (P4CHARSET); empty: server default."),
    Setting(
        "p4.options",
        "str",
        "allwrite clobber nocompress unlocked nomodtime rmdir",
        "Options of per-container Perforce workspaces.",
    ),
    Setting(
        "branches.map", "str", "", "Branch map file (TOML); empty: roles/dockeruser/branches.toml."
    ),
    Setting(
        "products.map",
        "str",
        "",
        "Product release map for combos (TOML); empty: roles/dockeruser/products.toml.",
    ),
    Setting(
        "service.socket",
        "str",
        "",
        "The devbox service's API socket; empty: /run/devbox/devbox.sock for the default root, "
        "else <root>/run/devbox.sock.",
    ),
    Setting(
        "service.group",
        "word",
        "devbox",
        "Unix group whose members may use the devbox service (the API socket's group).",
    ),
    Setting(
        "service.admin_group",
        "word",
        "devbox-admin",
        "Unix group whose members act on every user's containers and run the admin commands.",
    ),
    Setting("quota.containers", "int", 0, "Containers one user may own; 0: no quota."),
    Setting(
        "quota.memory",
        "memory_or_none",
        "none",
        "Memory one user's containers may be promised in all (e.g. 64g); none: no quota.",
    ),
    Setting(
        "quota.cpus",
        "cpus_or_none",
        "none",
        "CPUs one user's containers may be promised in all (e.g. 16); none: no quota.",
    ),
    Setting(
        "quota.users",
        "path",
        "/etc/devbox/quotas.toml",
        'Per-user quota overrides (TOML: [alice] containers = 10, memory = "128g"); '
        "a missing file: none.",
    ),
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
    from devbox.textfile import read_user_text

    try:
        data = tomllib.loads(
            read_user_text(path, "config file", "it must be a TOML file; fix or remove it")
        )
    except FileNotFoundError:
        return {}
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
