"""``devbox dockeruser make-dev-container`` and ``make-os-container``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from devbox.cli import state
from devbox.cli.options import CpusOpt, MemoryOpt, PidsOpt

if TYPE_CHECKING:
    from devbox.model.container_plan import MakeResult


def render_summary(result: MakeResult, as_json: bool, title: str) -> None:
    ui = state.ui()
    if as_json:
        ui.json(result.to_dict())
        return
    for warning in result.warnings:
        ui.warning(warning)
    ui.success(f"{title} {result.name} is ready in {result.seconds:.1f}s")
    rows = [
        ["name", result.name],
        ["IP", result.ip],
        ["MAC", result.mac],
        ["image", result.image],
        ["ssh", result.ssh_command],
        ["/opt", result.opt_dir],
        ["log", result.log],
    ]
    if result.revision:
        rows.insert(4, ["revision", result.revision])
    ui.table(None, ["", ""], rows)


def make_dev_container(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Container name: lowercase letters, digits, '-' (optional with --product: "
            "derived from product, release and patches)."
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            "-b",
            help="Branch to check out into /opt; also picks the image, /opt seed and license.",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(help="Image to run (default: from the branch map, else the 'image' setting)."),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            help="Host NIC for the LAN interface (default: setting 'parent', else the lab)."
        ),
    ] = None,
    vlan: Annotated[int | None, typer.Option(help="802.1Q VLAN id on the parent.")] = None,
    opt_seed: Annotated[
        str | None,
        typer.Option("--opt-seed", help="Tarball, directory or http(s) URL to extract into /opt."),
    ] = None,
    no_checkout: Annotated[
        bool, typer.Option("--no-checkout", help="Skip the branch checkout.")
    ] = False,
    product: Annotated[
        str | None,
        typer.Option(
            "--product",
            help="Make (or start, if it exists) the container of a product release "
            "combo (roles/dockeruser/products.toml); needs --release.",
        ),
    ] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Product release, e.g. 5.2 (with --product).")
    ] = None,
    patch: Annotated[
        list[str] | None,
        typer.Option(
            "--patch",
            help="With --product: a Perforce changelist to unshelve, or a patch file "
            "name from roles/dockeruser/patches/; repeat for more.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the Perforce password from stdin (asked for only when "
            "there is no valid ticket; never logged).",
        ),
    ] = False,
    memory: MemoryOpt = None,
    cpus: CpusOpt = None,
    pids: PidsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a full-VM-style dev container for a branch: /opt from the host, systemd, sshd, its
    own MAC and DHCP address on the LAN, your SSH keys, the branch's license and sources.

    With --product/--release (and --patch ...): the container for that combo, named after it;
    asking again for the same combo starts the existing one instead of building it again.

    Examples: devbox make-dev-container alice-main --branch main;
    devbox make-dev-container --product acme --release 5.2 --patch 1234 --patch 1250
    """
    from devbox.cli.ui.progress import reporter_for
    from devbox.errors import UserError
    from devbox.model.container_plan import MakeOptions
    from devbox.model.limits import request
    from devbox.services import container_make

    asked = request(memory, cpus, pids)
    cfg = state.config()
    if product is not None or release is not None or patch:
        if product is None or release is None:
            raise UserError(
                "--product and --release go together",
                hint="example: --product acme --release 5.2 [--patch 1234]",
            )
        if branch is not None or image is not None:
            raise UserError(
                "--branch and --image come from the product map with --product",
                hint="edit roles/dockeruser/products.toml to change them",
            )
        from devbox.services import combos

        combo = combos.make_combo(
            cfg,
            product,
            release,
            list(patch or []),
            name=name,
            parent=parent,
            vlan=vlan,
            opt_seed=opt_seed,
            checkout=not no_checkout,
            limits=asked,
            reporter=reporter_for(state.ui(), f"combo {product} {release}"),
        )
        if as_json:
            state.ui().json(combo.to_dict())
            return
        what = "started the existing" if combo.action == "started" else "made the"
        state.ui().success(
            f"{what} combo container {combo.name} ({product} {release}"
            + (f" + {', '.join(combo.patches)}" if combo.patches else "")
            + ")"
        )
        info = combo.make
        state.ui().table(
            None,
            ["", ""],
            [
                ["name", combo.name],
                ["IP", info.get("ip", "")],
                ["image", combo.image],
                ["branch", combo.branch],
                ["ssh", info.get("ssh_command", "")],
                ["log", info.get("log", "")],
            ],
        )
        return
    if name is None or branch is None:
        raise UserError(
            "NAME and --branch are required (or use --product/--release)",
            hint="example: devbox make-dev-container alice-main --branch main",
        )
    opts = MakeOptions(
        name=name,
        branch=branch,
        kind="dev",
        image=image,
        parent=parent,
        vlan=vlan,
        opt_seed=opt_seed,
        checkout=not no_checkout,
        limits=asked,
    )
    from devbox.cli.dockeruser.checkout import password_provider

    result = container_make.make(
        cfg,
        opts,
        reporter_for(state.ui(), f"make {name}"),
        password=password_provider(password_stdin),
    )
    render_summary(result, as_json, "dev container")


def make_os_container(
    name: Annotated[str, typer.Argument(help="Container name: lowercase letters, digits, '-'.")],
    os_name: Annotated[str, typer.Option("--os", help="Base OS, e.g. debian-12.")] = "debian-12",
    parent: Annotated[str | None, typer.Option(help="Host NIC for the LAN interface.")] = None,
    vlan: Annotated[int | None, typer.Option(help="802.1Q VLAN id on the parent.")] = None,
    memory: MemoryOpt = None,
    cpus: CpusOpt = None,
    pids: PidsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a vanilla OS container (the 'os' image): same LAN, SSH and /opt, no checkout."""
    from devbox.cli.ui.progress import reporter_for
    from devbox.model.container_plan import MakeOptions
    from devbox.model.limits import request
    from devbox.services import container_make, images

    asked = request(memory, cpus, pids)
    cfg = state.config()
    opts = MakeOptions(
        name=name,
        branch="-",
        kind="os",
        image=images.os_image_for(os_name),
        parent=parent,
        vlan=vlan,
        checkout=False,
        limits=asked,
    )
    result = container_make.make(cfg, opts, reporter_for(state.ui(), f"make {name}"))
    render_summary(result, as_json, "OS container")
