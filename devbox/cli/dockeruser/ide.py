"""``devbox dockeruser ide NAME``: a ready link that opens the container in a desktop IDE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container
from devbox.cli.options import JsonOpt

if TYPE_CHECKING:
    from devbox.api.client import Client


def ide(
    name: Annotated[
        str, typer.Argument(help="Container to open.", autocompletion=complete_container)
    ],
    vscode: Annotated[
        bool, typer.Option("--vscode", help="VS Code Remote-SSH link (the default).")
    ] = False,
    jetbrains: Annotated[bool, typer.Option("--jetbrains", help="JetBrains Gateway link.")] = False,
    eclipse: Annotated[
        bool,
        typer.Option("--eclipse", help="The container's Eclipse (/opt/eclipse) over ssh -X (X11)."),
    ] = False,
    open_it: Annotated[
        bool,
        typer.Option("--open", help="Open the link with the desktop's opener (xdg-open)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a link that opens a container in an IDE, through the SSH entry devbox writes
    for it (~/.ssh/config.d/devbox, Host NAME; written again here). The IDE opens the
    branch's checkout (/opt/src by default), /opt for a container without one.

    Examples: devbox dockeruser ide alice-main; ide alice-main --jetbrains --open;
    ide alice-main --eclipse (needs an Eclipse in the container's /opt/eclipse)."""
    from devbox.api import client_ssh
    from devbox.cli import remote
    from devbox.errors import UserError
    from devbox.model import ide_links

    chosen = [
        k for k, on in (("vscode", vscode), ("jetbrains", jetbrains), ("eclipse", eclipse)) if on
    ]
    if len(chosen) > 1:
        raise UserError(
            f"pick one IDE, not {' and '.join('--' + c for c in chosen)}",
            hint=f"devbox dockeruser ide {name} --vscode",
        )
    which = chosen[0] if chosen else ide_links.VSCODE
    api = remote.client()
    facts = api.get(f"/containers/{name}")  # the service refuses a container not the caller's
    client_ssh.record(facts, as_root=remote.local_root(), via=remote.via_host())
    project = ide_links.project_folder(_checkout_folder(api, name))
    if which == ide_links.ECLIPSE:
        _require_eclipse(name)
    link = ide_links.build(which, name, project, str(facts.get("user") or "dev"))
    if as_json:
        state.ui().json(link.to_dict())
    else:
        print(link.link, flush=True)
    if not open_it:
        return
    if link.kind == "command":  # Eclipse: start it over ssh -X, here
        import shlex

        client_ssh.replace_process(shlex.split(link.link))  # does not return
    from devbox.api import client_desktop

    client_desktop.open_link(link.link)


def _checkout_folder(api: Client, name: str) -> str | None:
    """Where the container's branch is checked out (``/opt/<path>`` of its branch map
    entry), None for a container without a branch or one the map no longer knows."""
    from devbox import branches
    from devbox.errors import DevboxError

    rows: list[dict[str, Any]] = api.get("/containers", all=True, no_size=True)
    branch = next((str(r.get("branch") or "") for r in rows if r.get("name") == name), "")
    if not branch:
        return None
    try:
        found = branches.for_config(state.config()).resolve(branch)
    except DevboxError:
        return None
    return branches.container_path(found.path)


def _require_eclipse(name: str) -> None:
    """Ask the container (the exec endpoint, as the caller: owner checks apply) whether its
    /opt holds an Eclipse; a one-line error (exit 2) saying what is missing otherwise."""
    from devbox.cli import remote
    from devbox.errors import UserError
    from devbox.model import ide_links

    result = remote.run(
        "POST",
        f"/containers/{name}/exec",
        {"argv": ["test", "-x", ide_links.ECLIPSE_BINARY], "user": "dev"},
        f"look for Eclipse in {name}",
    )
    if int(result["exit"]) != 0:
        raise UserError(
            f"container {name} has no Eclipse: {ide_links.ECLIPSE_BINARY} is missing or "
            "not executable",
            hint="unpack an Eclipse into the branch's /opt seed (opt_seed in the branch map) "
            f"at /opt/eclipse, or use: devbox dockeruser ide {name} --vscode",
        )
