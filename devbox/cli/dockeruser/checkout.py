"""``devbox dockeruser checkout``: check out or update a container's sources in /opt."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.completion import complete_branch, complete_container


def checkout(
    name: Annotated[
        str,
        typer.Argument(
            help="Container name (its /opt is <root>/NAME/opt).",
            autocompletion=complete_container,
        ),
    ],
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            "-b",
            autocompletion=complete_branch,
            help="Branch to check out (default: the container's devbox.branch "
            "label). See 'devbox dockeruser branches'.",
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option("--update", help="Fetch/sync the newest revision into an existing checkout."),
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the Perforce password from stdin (only asked for when "
            "there is no valid ticket).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check out a container's branch into its /opt, or update it with --update.

    Perforce branches get one workspace per container (devbox-<host>-<container>); git branches
    are fetched with the system git into a devbox cache, then into /opt as the container's
    user (never as root; hooks and fsmonitor off). What was checked out is recorded in
    <root>/NAME/checkout.json and the container's log.

    Example: devbox dockeruser checkout alice-main --update
    """
    from devbox.api import client_p4
    from devbox.cli import remote
    from devbox.model.naming import validate_name
    from devbox.services.checkout import CheckoutResult

    validate_name(name)
    if branch is not None:
        from devbox import branches

        branches.for_config(state.config()).resolve(branch)  # bad or unknown: exit 2 now
    body: dict[str, object] = {"branch": branch, "update": update}
    if password_stdin:
        body["password"] = sys.stdin.readline().rstrip("\r\n")
    own_p4 = client_p4.for_request(state.config(), remote.local_root())
    if own_p4:  # the checkout runs as the caller's Perforce user, with their ticket
        body["p4"] = own_p4
    title = f"{'update' if update else 'checkout'} {name}"
    data = remote.run("POST", f"/containers/{name}/checkout", body, title)
    result = CheckoutResult.from_dict(data["result"])
    had, wanted = bool(data["had"]), str(data["branch"])
    ui = state.ui()
    if as_json:
        ui.json(result.to_dict())
        return
    if had and not update:
        ui.info(f"{name}: '{wanted}' was already checked out; use --update to update it")
    ui.success(
        f"{name}: {result.branch} at {result.vcs} {result.revision} in {result.container_path}"
    )
    rows: list[list[object]] = [
        ["branch", result.branch],
        ["vcs", result.vcs],
        ["source", result.source],
        ["ref", result.ref or "head"],
        ["revision", result.revision],
        ["host path", result.path],
        ["container path", result.container_path],
        ["files", result.files],
        ["transferred", result.transferred],
    ]
    if result.workspace:
        rows.append(["workspace", result.workspace])
    ui.table(None, ["", ""], rows)
