"""Pure planning for product/patch combos: stable names, the product map, patch ids.

The same product, release and set of patches always give the same container name, so asking for
a combo twice finds the first one. No I/O here beyond parsing text handed in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from devbox.errors import UserError
from devbox.model import limits
from devbox.model.limits import Limits
from devbox.model.naming import MAX_LEN, validate_name

_PATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HASH_LEN = 8


@dataclass(frozen=True)
class PatchRef:
    """A patch: a Perforce changelist (all digits) or a file under roles/dockeruser/patches/."""

    ident: str

    @property
    def is_change(self) -> bool:
        return self.ident.isdigit()

    @property
    def change(self) -> int:
        return int(self.ident)


def parse_patch(text: str) -> PatchRef:
    raw = text.strip()
    if raw.isdigit():
        if int(raw) <= 0:
            raise UserError(f"invalid changelist {text!r}", hint="changelists are positive numbers")
        return PatchRef(str(int(raw)))
    if not _PATCH_ID.fullmatch(raw) or ".." in raw:
        raise UserError(
            f"invalid --patch {text!r}",
            hint="a Perforce changelist number, or the name of a patch file in "
            "roles/dockeruser/patches/ (letters, digits, '.', '_', '-')",
        )
    return PatchRef(raw)


def sorted_patches(patches: list[str]) -> list[PatchRef]:
    """Parsed, de-duplicated and in a canonical order: changelists by number, then files."""
    refs = {parse_patch(p).ident: parse_patch(p) for p in patches}
    changes = sorted((r for r in refs.values() if r.is_change), key=lambda r: r.change)
    files = sorted((r for r in refs.values() if not r.is_change), key=lambda r: r.ident)
    return [*changes, *files]


def _slug(text: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out


def check_word(value: str, what: str) -> str:
    if not _WORD.fullmatch(value or ""):
        raise UserError(
            f"invalid {what} {value!r}", hint="letters, digits, '.', '_' and '-' (at most 63)"
        )
    return value


def combo_key(product: str, release: str, patches: list[PatchRef]) -> str:
    """The canonical identity of a combo (what the name's hash is taken over, and a label)."""
    return f"{product}|{release}|{','.join(p.ident for p in patches)}"


def combo_name(product: str, release: str, patches: list[str]) -> str:
    """``<product>-<release>[-p<id>-<id>...]`` as a DNS label; too long -> cut, plus a short hash
    of the whole combo so different long combos never share a name."""
    check_word(product, "product")
    check_word(release, "release")
    refs = sorted_patches(patches)
    parts = [_slug(product), _slug(release)]
    if refs:
        parts.append("p" + "-".join(_slug(r.ident) for r in refs))
    name = "-".join(p for p in parts if p)
    name = re.sub(r"-+", "-", name).strip("-")
    if not name or not name[0].isalnum():
        name = "c" + name
    if len(name) > MAX_LEN:
        digest = hashlib.sha256(combo_key(product, release, refs).encode()).hexdigest()[:HASH_LEN]
        head = name[: MAX_LEN - HASH_LEN - 1].rstrip("-")
        name = f"{head}-{digest}"
    return validate_name(name, "combo name")


def patches_label(patches: list[str]) -> str:
    return ",".join(r.ident for r in sorted_patches(patches))


# ---------------------------------------------------------------- products.toml


@dataclass(frozen=True)
class Release:
    product: str
    release: str
    image: str
    branch: str
    description: str = ""
    limits: Limits = field(default_factory=Limits)  # memory/cpus/pids of the entry


def parse_products(text: str, source: str = "<memory>") -> list[Release]:
    """``[[product]]`` tables: ``name``, ``release`` (exact or glob), ``image``, ``branch``."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{source}: not valid TOML: {err}") from None
    entries = data.get("product", [])
    if not isinstance(entries, list):
        raise UserError(f"{source}: 'product' must be a list of tables ([[product]])")
    out: list[Release] = []
    for index, raw in enumerate(entries, start=1):
        where = f"{source}: product #{index}"
        if not isinstance(raw, dict):
            raise UserError(f"{where}: not a table")
        missing = [k for k in ("name", "release", "image", "branch") if not raw.get(k)]
        if missing:
            raise UserError(f"{where}: missing {', '.join(missing)}")
        values = {k: str(raw[k]) for k in ("name", "release", "image", "branch")}
        check_word(values["name"], f"product name in {where}")
        out.append(
            Release(
                values["name"],
                values["release"],
                values["image"],
                values["branch"],
                str(raw.get("description", "")),
                limits.from_table(raw, where),
            )
        )
    return out


def resolve_release(releases: list[Release], product: str, release: str) -> Release:
    """The entry for ``product`` + ``release`` (exact releases first, then globs in file order);
    the branch may use ``{release}``."""
    check_word(product, "product")
    check_word(release, "release")
    candidates = [r for r in releases if r.product == product]
    if not candidates:
        known = sorted({r.product for r in releases})
        raise UserError(
            f"unknown product '{product}'",
            hint="known products: "
            + (", ".join(known) or "none")
            + " (roles/dockeruser/products.toml)",
        )
    exact = [r for r in candidates if r.release == release]
    globbed = [
        r
        for r in candidates
        if r.release != release
        and any(c in r.release for c in "*?[")
        and fnmatch.fnmatchcase(release, r.release)
    ]
    for entry in [*exact, *globbed]:
        return Release(
            product,
            release,
            entry.image.replace("{release}", release),
            entry.branch.replace("{release}", release),
            entry.description,
            entry.limits,
        )
    known_releases = ", ".join(sorted(r.release for r in candidates))
    raise UserError(
        f"product '{product}' has no release '{release}'", hint=f"known releases: {known_releases}"
    )


# ---------------------------------------------------------------- pruning


_DOCKER_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)


def parse_docker_time(text: str) -> float | None:
    """Docker's ``2026-11-23T03:50:24.123456789Z`` -> epoch seconds; None for the zero time."""
    from datetime import UTC, datetime

    m = _DOCKER_TIME.fullmatch((text or "").strip())
    if m is None or m.group(1).startswith("0001-"):
        return None
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    fraction = float(f"0.{m.group(2)[:9]}") if m.group(2) else 0.0
    offset = 0
    tz = m.group(3)
    if tz and tz != "Z":
        offset = (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * (1 if tz[0] == "+" else -1)
    return base.timestamp() + fraction - offset


@dataclass(frozen=True)
class ComboState:
    name: str
    running: bool
    created: str
    started_at: str
    finished_at: str


def last_used(state: ComboState) -> float | None:
    """When the combo was last started (or created, when it never was)."""
    return parse_docker_time(state.started_at) or parse_docker_time(state.created)


def stale_combos(states: list[ComboState], now: float, stopped_for: float) -> list[str]:
    """Stopped combos nobody started for ``stopped_for`` seconds (running ones never)."""
    out = []
    for st in states:
        if st.running:
            continue
        when = last_used(st)
        stopped = parse_docker_time(st.finished_at)
        if stopped is not None:
            when = max(when or stopped, stopped)
        if when is not None and now - when >= stopped_for:
            out.append(st.name)
    return sorted(out)
