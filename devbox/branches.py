"""The branch map: which sources, image, /opt seed and license a branch name stands for.

``roles/dockeruser/branches.toml`` holds an ordered list of ``[[branch]]`` entries. A name is
either exact (``main``) or a glob (``release/*``). :func:`resolve` tries exact names first, then
the globs in file order; an unknown branch is a :class:`UserError` listing the close matches.

Pure: no I/O besides reading the TOML file, no outside libraries. The VCS fields (``depot``,
``url``, ``ref``, ``view``, ``sparse``) are jinja2 templates that the VCS adapters render with
``branch`` (the resolved name), ``client`` (the Perforce workspace) and ``path`` (the checkout
directory under /opt). ``path``, ``image``, ``opt_seed`` and ``license`` are plain values.

Branch names only ever reach processes as single argv items, and they are validated here
(:func:`validate_branch_name`) before anything else sees them.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from devbox.errors import UserError
from devbox.model import limits
from devbox.model.limits import Limits
from devbox.textfile import read_user_text

VCS_KINDS = ("p4", "git")
MAP_FILE = "branches.toml"
MAX_NAME = 200

# Letters, digits and . _ / + - ; the first character a letter or digit (so never '-').
_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")
_GLOB_RE = re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9._/+*?\[\]!-]*$")
_PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$")
_URL_SCHEMES = ("file://", "ssh://", "https://", "http://", "git://")
_KNOWN_KEYS = {
    "name",
    "vcs",
    "depot",
    "url",
    "ref",
    "view",
    "sparse",
    "depth",
    "path",
    "image",
    "opt_seed",
    "license",
    "description",
    "memory",
    "cpus",
    "pids",
}


def _problem_in_name(name: str, what: str) -> str | None:
    if not name:
        return f"{what} is empty"
    if len(name) > MAX_NAME:
        return f"{what} is longer than {MAX_NAME} characters"
    if name.startswith("-"):
        return f"{what} '{name}' starts with '-'"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"{what} {name!r} contains whitespace or control characters"
    if ".." in name:
        return f"{what} '{name}' contains '..'"
    if "//" in name or name.endswith("/") or name.endswith(".") or name.endswith(".lock"):
        return f"{what} '{name}' has an empty path part or a bad ending"
    return None


def validate_branch_name(name: str) -> str:
    """Return ``name`` if it is a safe branch name, else raise a UserError saying why."""
    problem = _problem_in_name(name, "branch name")
    if problem is None and not _BRANCH_RE.fullmatch(name):
        problem = f"branch name '{name}' has characters other than letters, digits and . _ / + -"
    if problem:
        raise UserError(problem, hint="branch names look like main, release/5.2 or feature-x")
    return name


def validate_ref(ref: str, what: str = "ref") -> str:
    """A git ref, Perforce changelist/label or revision, as one argv item: same rules."""
    problem = _problem_in_name(ref, what)
    if problem is None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/+-]*", ref):
        problem = f"{what} '{ref}' has characters other than letters, digits and . _ / + -"
    if problem:
        raise UserError(problem, hint=f"fix the {what} in roles/dockeruser/{MAP_FILE}")
    return ref


def validate_rel_path(path: str, what: str = "path") -> str:
    """A path relative to /opt: no leading '/', no '..', sane characters. '.' means /opt."""
    if path == ".":
        return path
    problem = _problem_in_name(path, what)
    if problem is None and not _PATH_RE.fullmatch(path):
        problem = f"{what} '{path}' must be relative with letters, digits and . _ / + -"
    if problem:
        raise UserError(problem, hint=f"fix the {what} in roles/dockeruser/{MAP_FILE}")
    return path


def validate_git_url(url: str) -> str:
    """A git remote: an absolute local path or a file/ssh/git/http(s) URL; never an option."""
    bad = (
        not url
        or url.startswith("-")
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
        or "::" in url
    )
    if not bad and not (url.startswith("/") or url.startswith(_URL_SCHEMES)):
        bad = True
    if bad:
        raise UserError(
            f"git URL {url!r} is not an absolute path or a file://, ssh://, "
            "git://, http:// or https:// URL",
            hint=f"fix the url in roles/dockeruser/{MAP_FILE}",
        )
    return url


@dataclass(frozen=True)
class BranchEntry:
    """One ``[[branch]]`` entry of the map, as written (templates unrendered)."""

    name: str  # exact name or glob
    vcs: str  # "p4" or "git"
    depot: str = ""  # p4: depot path without /... (e.g. //depot/main)
    url: str = ""  # git: remote
    ref: str = ""  # git: branch/tag/commit; p4: changelist, label or "" for head
    view: tuple[str, ...] = ()  # p4: view lines (templates); empty: depot/... -> path/...
    sparse: tuple[str, ...] = ()  # git: sparse-checkout (cone) directories; empty: all
    depth: int = 0  # git: shallow depth; 0: full history
    path: str = "src"  # where under /opt the sources go ("." = /opt itself)
    image: str = ""
    opt_seed: str = ""
    license: str = ""
    description: str = ""
    limits: Limits = field(default_factory=Limits)  # memory/cpus/pids of its containers

    @property
    def is_glob(self) -> bool:
        return any(ch in self.name for ch in "*?[")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["view"] = list(self.view)
        data["sparse"] = list(self.sparse)
        data["limits"] = self.limits.to_dict()
        return data


@dataclass(frozen=True)
class Branch:
    """A branch name resolved through the map: what make-dev-container and checkout use."""

    name: str
    entry: BranchEntry
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def vcs(self) -> str:
        return self.entry.vcs

    @property
    def image(self) -> str:
        return self.entry.image

    @property
    def opt_seed(self) -> str:
        return self.entry.opt_seed

    @property
    def license(self) -> str:
        return self.entry.license

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def limits(self) -> Limits:
        return self.entry.limits


@dataclass(frozen=True)
class BranchMap:
    entries: tuple[BranchEntry, ...]
    source: str = "<memory>"

    def resolve(self, branch: str) -> Branch:
        """First exact match, then the globs in file order; else UserError with close matches."""
        validate_branch_name(branch)
        for entry in self.entries:
            if not entry.is_glob and entry.name == branch:
                return Branch(branch, entry, {"branch": branch})
        for entry in self.entries:
            if entry.is_glob and fnmatch.fnmatchcase(branch, entry.name):
                return Branch(branch, entry, {"branch": branch})
        exact = [e.name for e in self.entries if not e.is_glob]
        close = difflib.get_close_matches(branch, exact, n=5, cutoff=0.5)
        globs = [e.name for e in self.entries if e.is_glob]
        parts = []
        if close:
            parts.append("did you mean: " + ", ".join(close))
        if globs:
            parts.append("patterns: " + ", ".join(globs))
        parts.append("'devbox dockeruser branches' lists them all")
        raise UserError(f"unknown branch '{branch}' (not in {self.source})", hint="; ".join(parts))


def _as_tuple(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UserError(f"{where}: '{key}' must be a string or a list of strings")


def _entry(raw: Mapping[str, Any], where: str) -> BranchEntry:
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise UserError(
            f"{where}: unknown key(s) {', '.join(unknown)}",
            hint="known keys: " + ", ".join(sorted(_KNOWN_KEYS)),
        )
    name = raw.get("name")
    if not isinstance(name, str):
        raise UserError(f"{where}: every [[branch]] needs a name")
    problem = _problem_in_name(name, "branch pattern")
    if problem is None and not _GLOB_RE.fullmatch(name):
        problem = f"branch pattern '{name}' has unexpected characters"
    if problem:
        raise UserError(f"{where}: {problem}")
    vcs = raw.get("vcs")
    if vcs not in VCS_KINDS:
        raise UserError(
            f"{where}: branch '{name}': vcs must be one of {', '.join(VCS_KINDS)}, got {vcs!r}"
        )
    strings = {}
    for key in ("depot", "url", "ref", "path", "image", "opt_seed", "license", "description"):
        value = raw.get(key, "src" if key == "path" else "")
        if not isinstance(value, str):
            raise UserError(f"{where}: branch '{name}': '{key}' must be a string")
        strings[key] = value
    depth = raw.get("depth", 0)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise UserError(f"{where}: branch '{name}': depth must be a whole number >= 0")
    if vcs == "p4" and not strings["depot"].startswith("//"):
        raise UserError(f"{where}: branch '{name}': a p4 branch needs depot = \"//depot/...\"")
    if vcs == "git" and not strings["url"]:
        raise UserError(f"{where}: branch '{name}': a git branch needs url = ...")
    try:
        validate_rel_path(strings["path"])
    except UserError as err:
        raise UserError(f"{where}: branch '{name}': {err.message}") from None
    return BranchEntry(
        name=name,
        vcs=vcs,
        depot=strings["depot"].rstrip("/"),
        url=strings["url"],
        ref=strings["ref"],
        view=_as_tuple(raw.get("view", []), "view", where),
        sparse=_as_tuple(raw.get("sparse", []), "sparse", where),
        depth=depth,
        path=strings["path"],
        image=strings["image"],
        opt_seed=strings["opt_seed"],
        license=strings["license"],
        description=strings["description"],
        limits=limits.from_table(raw, f"{where}: branch '{name}'"),
    )


def parse(data: Mapping[str, Any], source: str = "<memory>") -> BranchMap:
    """Build a map from parsed TOML (``{"branch": [ {...}, ... ]}``)."""
    unknown = sorted(set(data) - {"branch"})
    if unknown:
        raise UserError(
            f"{source}: unknown table(s) {', '.join(unknown)}",
            hint="the file holds [[branch]] entries only",
        )
    raw_entries = data.get("branch", [])
    if not isinstance(raw_entries, list):
        raise UserError(f"{source}: 'branch' must be an array of tables ([[branch]])")
    entries: list[BranchEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries, start=1):
        where = f"{source}: branch #{index}"
        if not isinstance(raw, dict):
            raise UserError(f"{where}: not a table")
        entry = _entry(raw, where)
        if entry.name in seen:
            raise UserError(f"{where}: branch '{entry.name}' is listed twice")
        seen.add(entry.name)
        entries.append(entry)
    return BranchMap(tuple(entries), source)


def loads(text: str, source: str = "<memory>") -> BranchMap:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{source}: not valid TOML: {err}", hint="fix the branch map") from None
    return parse(data, source)


def default_path() -> Path:
    from devbox.resources import role_dir

    return role_dir("dockeruser") / MAP_FILE


def load(path: Path | None = None) -> BranchMap:
    """Read the branch map (default: ``roles/dockeruser/branches.toml``)."""
    target = path or default_path()
    try:
        text = read_user_text(target, "branch map", "setting 'branches.map' must name a TOML file")
    except FileNotFoundError:
        raise UserError(
            f"branch map not found: {target}", hint="reinstall devbox or restore the file"
        ) from None
    return loads(text, str(target))


def for_config(cfg: Any) -> BranchMap:
    """The branch map the ``branches.map`` setting names (default: the role's map)."""
    configured = cfg.text("branches.map")
    return load(Path(configured).expanduser() if configured else None)


def resolve(branch: str, path: Path | None = None) -> Branch:
    """Resolve a branch name through the map at ``path`` (default: the role's map)."""
    return load(path).resolve(branch)


def container_path(rel: str) -> str:
    """Where the container sees a checkout directory (``/opt/<rel>``)."""
    return str(PurePosixPath("/opt") / rel) if rel != "." else "/opt"
