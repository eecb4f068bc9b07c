"""Container names: validated before anything is made.

A name becomes a hostname, a Docker name, a directory under <root> and a DHCP hostname, so it
follows DNS label rules: 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'.

A container's host state lives under ``<root>/containers/<name>/`` (:mod:`devbox.paths`), so no
name can alias one of devbox's own folders; as belt and braces a container name that *is* the
name of one of them (``logs``, ``ssh``, ``pki``, ...: :data:`devbox.paths.RESERVED`) is refused
as well, so an older tool or a hand-built path never mistakes it for a container's directory.
"""

from __future__ import annotations

import re

from devbox.errors import UserError
from devbox.paths import RESERVED

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")  # \Z: no trailing newline
MAX_LEN = 63


def validate_name(name: str, what: str = "container name") -> str:
    if not name:
        raise UserError(f"{what} is empty", hint="use lowercase letters, digits and '-'")
    if len(name) > MAX_LEN:
        raise UserError(
            f"{what} '{name[:20]}...' is {len(name)} characters long (max {MAX_LEN})",
            hint="use a shorter name",
        )
    if not _LABEL.match(name):
        bad = sorted({c for c in name if not (c.islower() or c.isdigit() or c == "-")})
        why = f"contains {', '.join(repr(c) for c in bad)}" if bad else "starts or ends with '-'"
        raise UserError(
            f"invalid {what} {name!r}: {why}",
            hint="names are DNS labels: lowercase letters, digits and '-', "
            "1-63 characters, not starting or ending with '-'",
        )
    if name in RESERVED and _is_container_name(what):
        raise UserError(
            f"{what} '{name}' is the name of one of devbox's own folders",
            hint=f"pick another name (not one of: {', '.join(sorted(RESERVED))})",
        )
    return name


def _is_container_name(what: str) -> bool:
    return any(word in what for word in ("container", "clone", "combo"))
