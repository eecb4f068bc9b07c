"""``devbox dockeruser checkout``: check out or update a container's sources in /opt."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from devbox.cli import state


def password_provider(from_stdin: bool) -> Callable[[], str] | None:
    """How to get a Perforce password if no valid ticket exists: stdin, a prompt, or nothing.

    Returned as a callable so the password is only asked for when the server wants it.
    """
    if from_stdin:

        def read_stdin() -> str:
            return sys.stdin.readline().rstrip("\r\n")

        return read_stdin
    if sys.stdin.isatty():

        def prompt() -> str:
            import getpass

            return getpass.getpass("Perforce password: ")

        return prompt
    return None


def _branch_label(name: str) -> str:
    from devbox.model.labels import BRANCH
    from devbox.services import container_lifecycle

    branch = container_lifecycle.branch_of(name)
    if not branch:
        state.abort(
            f"container {name} has no {BRANCH} label", hint="say which branch with --branch"
        )
    return str(branch)


def checkout(
    name: Annotated[str, typer.Argument(help="Container name (its /opt is <root>/NAME/opt).")],
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            "-b",
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
    from devbox.cli.ui.progress import reporter_for
    from devbox.model.naming import validate_name
    from devbox.oplog import OpLog
    from devbox.paths import Layout
    from devbox.services import checkout as service
    from devbox.steps import Step, StepContext, run_steps

    validate_name(name)
    cfg = state.config()
    layout = Layout(cfg.root)
    wanted = branch or _branch_label(name)
    provider = password_provider(password_stdin)
    had = service.read_state(cfg, name) is not None
    results: list[service.CheckoutResult] = []

    opt = layout.opt_dir(name)

    def step(ctx: StepContext) -> None:
        # git/P4 work in the container's tree only as its owner (the recorded one, else
        # whoever owns its /opt; root is refused): the service decides, see its docstring
        result = service.checkout(
            cfg,
            name,
            wanted,
            opt,
            update=update,
            log=ctx.log,
            progress=ctx.progress,
            password=provider,
        )
        results.append(result)
        ctx.note = f"{result.vcs} {result.revision}"

    title = f"{'update' if update else 'checkout'} {name}"
    with OpLog(layout.container_log(name)) as log:
        run_steps(
            title,
            [Step(f"{'update' if update else 'check out'} {wanted}", step)],
            log,
            reporter_for(state.ui(), title),
        )
    result = results[0]
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
