"""Container names: validated before anything is made.

A name becomes a hostname, a Docker name, a directory under <root> and a DHCP hostname, so it
follows DNS label rules: 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'.
"""

from __future__ import annotations

import re

from devbox.errors import UserError

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_LEN = 63


def validate_name(name: str, what: str = "container name") -> str:
    if not name:
        raise UserError(f"{what} is empty", hint="use lowercase letters, digits and '-'")
    if len(name) > MAX_LEN:
        raise UserError(f"{what} '{name[:20]}...' is {len(name)} characters long (max {MAX_LEN})",
                        hint="use a shorter name")
    if not _LABEL.match(name):
        bad = sorted({c for c in name if not (c.islower() or c.isdigit() or c == "-")})
        why = (f"contains {', '.join(repr(c) for c in bad)}" if bad
               else "starts or ends with '-'")
        raise UserError(f"invalid {what} {name!r}: {why}",
                        hint="names are DNS labels: lowercase letters, digits and '-', "
                             "1-63 characters, not starting or ending with '-'")
    return name
