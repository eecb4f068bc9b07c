"""The kinds of setting: one parser each, turning a raw value (TOML, environment, flag) into
the setting's value or raising ValueError. ``TYPES`` says what Python type each kind's values
have (what :class:`devbox.config.Config`'s typed getters check)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

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


def _limit_parser(
    kind: Literal["memory", "cpus"], auto: bool, empty: str = ""
) -> Callable[[Any], Any]:
    """A ``limits.*`` value (``auto`` where allowed, ``empty`` for "none" where given),
    checked by devbox.model.limits' own parser of that ``kind``."""

    def parse_limit(raw: Any) -> str:
        text = _parse_str(raw)
        if (auto and text == "auto") or (empty and text == empty):
            return text
        from devbox.model import limits  # at first use: every command's start-up reads this

        try:
            (limits.parse_memory if kind == "memory" else limits.parse_cpus)(text)
        except UserError as err:
            raise ValueError(err.message) from None
        return text

    return parse_limit


def _limits_parsers() -> dict[str, Callable[[Any], Any]]:
    return {
        "memory_or_auto": _limit_parser("memory", auto=True),
        "memory": _limit_parser("memory", auto=False),
        "cpus_or_auto": _limit_parser("cpus", auto=True),
        "memory_or_none": _limit_parser("memory", auto=False, empty="none"),
        "cpus_or_none": _limit_parser("cpus", auto=False, empty="none"),
    }


def _parse_duration_or_off(raw: Any) -> str:
    """A duration like 8h, 90m, 30s or 1h30m, or off (devbox.model.idle_plan's parser)."""
    from devbox.model.idle_plan import parse_duration

    text = _parse_str(raw)
    parse_duration(text)  # ValueError: the setting's one-line error
    return text


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
    "duration_or_off": _parse_duration_or_off,
    **_limits_parsers(),
}

# the Python type of each kind's values: every kind not named here is a (checked) string
TYPES: dict[str, type] = {
    **{kind: str for kind in PARSERS},
    "bool": bool,
    "int": int,
    "float": float,
    "path": Path,
}
