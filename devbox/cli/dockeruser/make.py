"""``devbox dockeruser make-dev-container`` and ``make-os-container``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from devbox.cli import state
from devbox.cli.completion import complete_branch
from devbox.cli.options import CpusOpt, MemoryOpt, PidsOpt

if TYPE_CHECKING:
    from devbox.model.container_plan import MakeResult
    from devbox.model.limits import Limits
    from devbox.model.placement import Choice


KeepRunningOpt = Annotated[
    bool,
    typer.Option(
        "--keep-running",
        help="Never stop this container for being idle (the service's idle_stop_after).",
    ),
]


def render_summary(
    result: MakeResult, as_json: bool, title: str, placed: Choice | None = None
) -> None:
    from devbox.cli import remote

    ui = state.ui()
    if as_json:
        out = result.to_dict()
        if placed is not None:
            out["host"], out["placement"] = placed.host, placed.to_dict()
        elif state.config().text("host"):
            out["host"] = remote.current_host()
        ui.json(out)
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
            autocompletion=complete_branch,
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
    keep_running: KeepRunningOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a full-VM-style dev container for a branch: /opt from the host, systemd, sshd, its
    own MAC and DHCP address on the LAN, your SSH keys, the branch's license and sources.

    With --product/--release (and --patch ...): the container for that combo, named after it;
    asking again for the same combo starts the existing one instead of building it again.

    Examples: devbox make-dev-container alice-main --branch main;
    devbox make-dev-container --product acme --release 5.2 --patch 1234 --patch 1250
    """
    from devbox.api import client_p4, client_ssh
    from devbox.cli import remote
    from devbox.errors import UserError
    from devbox.model.container_plan import MakeResult
    from devbox.model.limits import request
    from devbox.model.naming import validate_name

    request(memory, cpus, pids)  # a bad value fails here, before the service is asked
    body: dict[str, object] = {
        "name": name,
        "parent": parent,
        "vlan": vlan,
        "opt_seed": opt_seed,
        "no_checkout": no_checkout,
        "memory": memory,
        "cpus": cpus,
        "pids": pids,
        "public_keys": client_ssh.own_public_keys(),
        "keep_running": keep_running,
    }
    if password_stdin:
        body["password"] = sys.stdin.readline().rstrip("\r\n")
    own_p4 = client_p4.for_request(state.config(), remote.local_root())
    if own_p4:  # a user's checkout runs as their Perforce user, with their ticket
        body["p4"] = own_p4
    if product is not None or release is not None or patch:
        if product is None or release is None:
            raise UserError(
                "--product and --release go together",
                hint="example: --product acme --release 5.2 [--patch 1234]",
            )
        if keep_running:
            raise UserError(
                "--keep-running is for dev and OS containers, not --product combos",
                hint="leave out --keep-running (idle stop may stop the combo container)",
            )
        if branch is not None or image is not None:
            raise UserError(
                "--branch and --image come from the product map with --product",
                hint="edit roles/dockeruser/products.toml to change them",
            )
        from devbox.services import combos

        if name is not None:
            validate_name(name)
        combos.check_request(state.config(), product, release, list(patch or []))
        body.update(kind="combo", product=product, release=release, patches=list(patch or []))
        place(request(memory, cpus, pids))  # --host auto: the flags' limits (the map's are there)
        data = remote.run("POST", "/containers", body, f"combo {product} {release}")
        _render_combo(data["combo"], as_json)
        return
    if name is None or branch is None:
        raise UserError(
            "NAME and --branch are required (or use --product/--release)",
            hint="example: devbox make-dev-container alice-main --branch main",
        )
    validate_name(name)
    from devbox import branches

    found = branches.for_config(state.config()).resolve(branch)  # unknown: close matches, exit 2
    placed = place(request(memory, cpus, pids).over(found.limits))
    body.update(kind="dev", branch=branch, image=image)
    data = remote.run("POST", "/containers", body, f"make {name}")
    result = MakeResult.from_dict(data)
    _write_ssh_entry(data)
    render_summary(result, as_json, "dev container", placed)


def place(asked: Limits) -> Choice | None:
    """``--host auto``: ask every known host (this machine too) in parallel what it has free
    and what the caller's quota there allows, pick one (:mod:`devbox.model.placement`) and
    talk to it from here on; one line on stderr says which and why."""
    from devbox.cli import remote

    cfg = state.config()
    if cfg.text("host") != remote.AUTO:
        return None
    from devbox.model import placement
    from devbox.model.hosts import LOCAL
    from devbox.model.limits import AUTO, parse_memory
    from devbox.state import host_list

    memory = asked.memory
    setting = str(cfg["limits.memory"] or AUTO).strip().lower()
    if memory is None and setting != AUTO:
        memory = parse_memory(setting, "setting limits.memory")
    names = [LOCAL, *host_list.load(cfg.environ)]
    answers = remote.on_hosts(names, lambda api: (api.get("/host"), api.get("/whoami")))
    views = []
    for host in names:
        got, error = answers[host]
        facts, whoami = got if got is not None else (None, None)
        views.append(placement.HostView(host, facts, whoami, error))
    choice = placement.choose(views, memory, asked.cpus)
    remote.use_host(choice.host)
    state.ui().info(f"--host auto: {choice.host} ({choice.reason})")  # stderr, --json too
    return choice


def _write_ssh_entry(data: dict[str, object]) -> None:
    from devbox.api import client_ssh
    from devbox.cli import remote

    if data.get("ip"):
        client_ssh.record(dict(data), as_root=remote.local_root(), via=remote.via_host())


def _render_combo(combo: dict[str, object], as_json: bool) -> None:
    ui = state.ui()
    info = combo.get("make") or {}
    assert isinstance(info, dict)
    if combo.get("action") == "made":
        _write_ssh_entry(info)
    if as_json:
        ui.json(combo)
        return
    what = "started the existing" if combo.get("action") == "started" else "made the"
    patches = list(combo.get("patches") or [])  # type: ignore[call-overload]
    ui.success(
        f"{what} combo container {combo['name']} ({combo['product']} {combo['release']}"
        + (f" + {', '.join(patches)}" if patches else "")
        + ")"
    )
    ui.table(
        None,
        ["", ""],
        [
            ["name", combo["name"]],
            ["IP", info.get("ip", "")],
            ["image", combo.get("image", "")],
            ["branch", combo.get("branch", "")],
            ["ssh", info.get("ssh_command", "")],
            ["log", info.get("log", "")],
        ],
    )


def make_os_container(
    name: Annotated[str, typer.Argument(help="Container name: lowercase letters, digits, '-'.")],
    os_name: Annotated[str, typer.Option("--os", help="Base OS, e.g. debian-12.")] = "debian-12",
    parent: Annotated[str | None, typer.Option(help="Host NIC for the LAN interface.")] = None,
    vlan: Annotated[int | None, typer.Option(help="802.1Q VLAN id on the parent.")] = None,
    memory: MemoryOpt = None,
    cpus: CpusOpt = None,
    pids: PidsOpt = None,
    keep_running: KeepRunningOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a vanilla OS container (the 'os' image): same LAN, SSH and /opt, no checkout."""
    from devbox.api import client_ssh
    from devbox.cli import remote
    from devbox.model.container_plan import MakeResult
    from devbox.model.limits import request
    from devbox.model.naming import validate_name

    asked = request(memory, cpus, pids)
    validate_name(name)
    placed = place(asked)
    body = {
        "kind": "os",
        "name": name,
        "os": os_name,
        "parent": parent,
        "vlan": vlan,
        "memory": memory,
        "cpus": cpus,
        "pids": pids,
        "public_keys": client_ssh.own_public_keys(),
        "keep_running": keep_running,
    }
    data = remote.run("POST", "/containers", body, f"make {name}")
    _write_ssh_entry(data)
    render_summary(MakeResult.from_dict(data), as_json, "OS container", placed)
