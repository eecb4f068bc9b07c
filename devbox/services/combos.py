"""Product + release + patches combos: one container per combo, made once, started after.

The name comes from the combo (:func:`devbox.model.combo_plan.combo_name`), so asking for the same
combo again finds the container and starts it (seconds) instead of building it again. The image
and branch come from ``roles/dockeruser/products.toml``; patches are Perforce changelists
unshelved into the combo's workspace (:func:`devbox.services.checkout.apply_changes`) or patch
files from ``roles/dockeruser/patches/`` applied to the checkout with ``patch -p1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.adapters.host import process
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import combo_plan, labels
from devbox.model.container_plan import MakeOptions
from devbox.model.limits import Limits
from devbox.resources import role_dir
from devbox.steps import Reporter, Step, StepContext

PATCH_SUFFIXES = (".patch", ".diff", "")


def products_file(cfg: Config | None = None) -> Path:
    """The product map the ``products.map`` setting names (default: the role's map)."""
    configured = cfg.text("products.map") if cfg is not None else ""
    return Path(configured).expanduser() if configured else role_dir("dockeruser") / "products.toml"


def patches_dir() -> Path:
    return role_dir("dockeruser") / "patches"


def load_releases(path: Path | None = None) -> list[combo_plan.Release]:
    path = path or products_file()
    if not path.exists():
        raise UserError(
            f"no product map at {path}",
            hint="add [[product]] entries to roles/dockeruser/products.toml",
        )
    from devbox.textfile import read_user_text

    text = read_user_text(path, "product map", "setting 'products.map' must name a TOML file")
    return combo_plan.parse_products(text, str(path))


def patch_file(ident: str, directory: Path | None = None) -> Path:
    directory = directory or patches_dir()
    for suffix in PATCH_SUFFIXES:
        candidate = directory / f"{ident}{suffix}"
        if candidate.is_file():
            return candidate
    raise UserError(
        f"no patch file for --patch {ident} in {directory}",
        hint=f"add {directory}/{ident}.patch, or pass a Perforce changelist number",
    )


@dataclass
class ComboResult:
    name: str
    product: str
    release: str
    patches: list[str]
    image: str
    branch: str
    action: str  # "made" or "started"
    make: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matches(lbls: dict[str, str], product: str, release: str, patches: str) -> bool:
    return (
        lbls.get(labels.PRODUCT) == product
        and lbls.get(labels.RELEASE) == release
        and lbls.get(labels.PATCHES, "") == patches
    )


def check_request(cfg: Config, product: str, release: str, patches: list[str]) -> None:
    """UserError for an unknown product/release or a bad patch, before anything is asked
    of Docker (the client checks this too, before it asks the service)."""
    combo_plan.resolve_release(load_releases(products_file(cfg)), product, release)
    for ref in combo_plan.sorted_patches(patches):
        if not ref.is_change:
            patch_file(ref.ident)


def patches_key(patches: list[str]) -> str:
    """The ``devbox.patches`` label text of a combo with these patches."""
    return ",".join(r.ident for r in combo_plan.sorted_patches(patches))


def find_existing(product: str, release: str, patches: str) -> str | None:
    """Name of the container holding this combo, if there is one (whatever its name)."""
    for st in dc.list_labeled(f"{labels.PRODUCT}={product}"):
        if st.labels.get(labels.KIND) == "combo" and _matches(st.labels, product, release, patches):
            return st.name
    return None


def _apply_step(
    cfg: Config, name: str, refs: list[combo_plan.PatchRef], files: dict[str, Path]
) -> Step:
    def apply(ctx: StepContext) -> None:
        from devbox.services import checkout

        if not refs:
            ctx.skip("no patches")
        changes = [r.change for r in refs if r.is_change]
        applied: list[str] = []
        if changes:
            results = checkout.apply_changes(cfg, name, changes, log=ctx.log)
            conflicts = [
                f"{getattr(r, 'change', '?')}: {', '.join(getattr(r, 'conflicts', []))}"
                for r in results
                if getattr(r, "conflicts", None)
            ]
            if conflicts:
                raise OperationFailed(
                    "changelists need a manual resolve: " + "; ".join(conflicts),
                    hint="resolve them in the workspace, or leave them out",
                )
            applied += [str(c) for c in changes]
        file_refs = [r for r in refs if not r.is_change]
        if file_refs:
            state = checkout.read_state(cfg, name)
            if state is None:
                raise UserError(
                    f"patch files need a checkout in {name}'s /opt",
                    hint="do not use --no-checkout with --patch",
                )
            top = Path(state.path)
            tool = process.require("patch", "patch")
            for index, ref in enumerate(file_refs, start=1):
                process.run(
                    [
                        tool,
                        "-p1",
                        "--forward",
                        "--batch",
                        "-d",
                        str(top),
                        "-i",
                        str(files[ref.ident]),
                    ],
                    log=ctx.log,
                    timeout=600,
                )
                applied.append(ref.ident)
                ctx.progress(index, len(file_refs), ref.ident)
        ctx.note = "applied " + ", ".join(applied)

    return Step("apply patches", apply)


def make_combo(
    cfg: Config,
    product: str,
    release: str,
    patches: list[str],
    *,
    name: str | None = None,
    parent: str | None = None,
    vlan: int | None = None,
    opt_seed: str | None = None,
    checkout: bool = True,
    reporter: Reporter | None = None,
    limits: Limits | None = None,
    owner_labels: dict[str, str] | None = None,
    public_keys: tuple[str, ...] | None = None,
    may_start: Callable[[str], object] | None = None,
    admit: Callable[[list[Limits]], None] | None = None,
) -> ComboResult:
    """Make the container for this combo, or start it when it exists already. ``limits``
    (from flags) go over the product map's, which go over the branch map's. ``may_start``
    may refuse to start an existing combo container (not the caller's); ``admit`` may refuse
    the limits of a new one (a quota); ``owner_labels`` say whose a new one is."""
    from devbox.services import container_lifecycle, container_make

    rel = combo_plan.resolve_release(load_releases(products_file(cfg)), product, release)
    refs = combo_plan.sorted_patches(patches)
    patches_text = patches_key(patches)
    combo = name or combo_plan.combo_name(product, release, patches)
    existing = find_existing(product, release, patches_text)
    if existing is not None:
        if name is not None and existing != name:
            raise UserError(
                f"this combo exists already as '{existing}'",
                hint=f"start it: devbox dockeruser start-dev-container {existing}",
            )
        if may_start is not None:
            may_start(existing)
        result = container_lifecycle.start(cfg, existing, reporter)
        return ComboResult(
            existing,
            product,
            release,
            [r.ident for r in refs],
            rel.image,
            rel.branch,
            "started",
            result.to_dict(),
        )
    st = dc.inspect(combo)
    if st is not None:
        raise UserError(
            f"a container named '{combo}' exists but holds another combo or none",
            hint="remove it, or name this combo with NAME",
        )
    files = {r.ident: patch_file(r.ident) for r in refs if not r.is_change}
    if refs and not checkout:
        raise UserError("--patch needs the checkout", hint="leave out --no-checkout")
    extra = {labels.PRODUCT: product, labels.RELEASE: release, labels.PATCHES: patches_text}
    extra.update(owner_labels or {})
    opts = MakeOptions(
        public_keys=public_keys,
        name=combo,
        branch=rel.branch,
        kind="combo",
        image=rel.image,
        parent=parent,
        vlan=vlan,
        opt_seed=opt_seed,
        checkout=checkout,
        extra_labels=extra,
        limits=(limits or Limits()).over(rel.limits),
    )
    made = container_make.make(
        cfg, opts, reporter, extra_steps=(_apply_step(cfg, combo, refs, files),), admit=admit
    )
    return ComboResult(
        combo,
        product,
        release,
        [r.ident for r in refs],
        rel.image,
        rel.branch,
        "made",
        made.to_dict(),
    )


# ---------------------------------------------------------------- prune


@dataclass
class PruneResult:
    candidates: list[str]
    removed: list[str]
    opt_kept: list[str]
    failed: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stale(cfg: Config, stopped_for: float, now: float | None = None) -> list[str]:
    states = [
        combo_plan.ComboState(st.name, st.running, st.created, st.started_at, st.finished_at)
        for st in dc.list_labeled(f"{labels.KIND}=combo")
        if st.labels.get(labels.ROLE) is not None
    ]
    return combo_plan.stale_combos(states, time.time() if now is None else now, stopped_for)


def prune(cfg: Config, names: list[str], purge: bool = False) -> PruneResult:
    """Remove the combos ``names`` (as chosen by :func:`stale`); /opt kept unless ``purge``.

    With ``purge`` a combo's Perforce workspace goes even with opened files (the patches it
    was made with are unshelved, so opened): ``revert -k``, as its /opt goes anyway; shelved
    changes are never deleted. Without it, opened files keep the combo (and its /opt)."""
    from devbox.errors import DevboxError
    from devbox.services import container_lifecycle

    removed, kept, failed = [], [], {}
    for name in names:
        try:
            result = container_lifecycle.remove(cfg, name, purge=purge, force=purge)
        except DevboxError as err:
            failed[name] = str(err)
            continue
        removed.append(name)
        if result.opt_kept:
            kept.append(result.opt_kept)
    return PruneResult(list(names), removed, kept, failed)
