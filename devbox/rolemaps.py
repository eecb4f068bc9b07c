"""The dockeruser role's data maps: licenses per branch, /opt seeds per image and branch.

Both are TOML lists matched in file order with shell-style globs; pure lookups, no I/O beyond
reading the file.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from devbox.errors import UserError
from devbox.resources import role_dir
from devbox.textfile import read_user_text


def _load(path: Path, key: str) -> list[dict[str, object]]:
    if not path.exists():
        return []
    try:
        data = tomllib.loads(read_user_text(path, "role map", "fix the file"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}") from None
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise UserError(f"{path}: '{key}' must be a list of tables ([[{key}]])")
    return entries


@dataclass(frozen=True)
class LicenseRule:
    branches: str  # glob
    file: Path  # on the host
    target: str  # path inside the container


def license_for(
    branch: str, path: Path | None = None, name: str | None = None
) -> LicenseRule | None:
    """The license for ``branch``: the entry called ``name`` when the branch map names one
    (``"none"``: no license), else the first entry whose ``branches`` glob matches."""
    path = path or role_dir("dockeruser") / "licenses.toml"
    if name == "none":
        return None
    for i, entry in enumerate(_load(path, "license")):
        try:
            pattern, file, target = str(entry["branches"]), str(entry["file"]), str(entry["target"])
        except KeyError as err:
            raise UserError(f"{path}: license entry {i + 1} lacks {err}") from None
        if not target.startswith("/"):
            raise UserError(f"{path}: license entry {i + 1}: target must be an absolute path")
        matched = (entry.get("name") == name) if name else fnmatch.fnmatchcase(branch, pattern)
        if matched:
            source = Path(file) if Path(file).is_absolute() else path.parent / file
            return LicenseRule(pattern, source, target)
    if name:
        raise UserError(
            f"the branch map names license '{name}', which {path} does not define",
            hint="add a [[license]] entry with that name, or fix branches.toml",
        )
    return None


_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Seed:
    match: str
    source: str  # tarball path, directory, or http(s) URL
    sha256: str = ""  # the tarball's, lowercase hex; checked before anything is extracted

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


def seed_for(image: str, branch: str, path: Path | None = None) -> Seed | None:
    """The /opt seed for ``image`` and ``branch``: first entry whose ``match`` glob matches
    ``"<image>:<branch>"``."""
    path = path or role_dir("dockeruser") / "opt-seeds.toml"
    key = f"{image}:{branch}"
    for i, entry in enumerate(_load(path, "seed")):
        try:
            pattern, source = str(entry["match"]), str(entry["source"])
        except KeyError as err:
            raise UserError(f"{path}: seed entry {i + 1} lacks {err}") from None
        sha256 = entry.get("sha256", "")
        if not isinstance(sha256, str) or (sha256 and not _SHA256_RE.fullmatch(sha256)):
            raise UserError(
                f"{path}: seed entry {i + 1}: sha256 must be 64 hex digits",
                hint="the tarball's sha256 as sha256sum prints it",
            )
        if fnmatch.fnmatchcase(key, pattern):
            if not source.startswith(("http://", "https://", "/")):
                source = str(path.parent / source)
            return Seed(pattern, source, sha256.lower())
    return None
