"""``devbox dockeruser run-on``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from devbox.cli import state

COMMAND_KEY = "devbox.run-on.command"


class SplitAtDashDash(TyperCommand):
    """Keeps what follows ``--`` apart (click would merge it into the NAME arguments)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            index = args.index("--")
            ctx.meta[COMMAND_KEY] = list(args[index + 1 :])
            args = list(args[:index])
        else:
            ctx.meta[COMMAND_KEY] = []
        return list(super().parse_args(ctx, args))


def _tail(result: dict[str, Any], count: int) -> list[str]:
    """The last ``count`` non-blank lines of a result's stdout then stderr (as
    ``services.runon.RunResult.tail``; the client does not import the SSH service)."""
    out, err = str(result.get("stdout") or ""), str(result.get("stderr") or "")
    text = (out.rstrip("\n") + "\n" + err.rstrip("\n")).strip("\n")
    found = [line for line in text.splitlines() if line.strip()]
    return found[-count:] if count > 0 else []


def run_on(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Containers to run on, then '--' and the command.",
            show_default=False,
            metavar="NAME...",
        ),
    ] = None,
    clones_of: Annotated[
        str | None, typer.Option("--clones-of", help="Also run on every clone of this container.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Connections at once.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds allowed per container.")] = 600.0,
    lines: Annotated[int, typer.Option(help="Output lines shown per container.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Run a command over SSH on many containers at once (peer testing).

    Prints exit code, duration and the last output lines per container; exits non-zero if the
    command failed anywhere. One word after '--' is a command line for the remote shell
    ('a; b | c'); several words are passed as arguments, each quoted.

    Example: devbox dockeruser run-on --clones-of alice-main -- systemctl is-active ssh
    """
    import shlex

    from devbox.cli import remote
    from devbox.errors import ExitCode, UserError

    targets = list(names or [])
    command = list(ctx.meta.get(COMMAND_KEY) or [])
    if not command:
        raise UserError("no command given", hint="put it after '--': run-on NAME -- CMD ARGS")
    if not targets and clones_of is None:
        raise UserError("no containers given", hint="name them, or use --clones-of SRC")
    # one word is a command line for the remote shell (like ssh HOST 'a; b'); several words
    # are an argv, quoted so each arrives as it was typed
    line = command[0] if len(command) == 1 else shlex.join(command)
    body = {
        "names": targets,
        "clones_of": clones_of,
        "command": line,
        "jobs": jobs,
        "timeout": timeout,
    }
    results: list[dict[str, Any]] = remote.run("POST", "/run-on", body, "run-on")
    ui = state.ui()
    if as_json:
        ui.json(results)
    else:
        ui.table(
            None,
            ["container", "exit", "seconds", f"last {lines} line(s)"],
            [
                [
                    r["name"],
                    "-" if r["exit_code"] is None else r["exit_code"],
                    f"{r['seconds']:.2f}",
                    "\n".join(_tail(r, lines)) or r["error"],
                ]
                for r in results
            ],
        )
    failed = [r for r in results if not r["ok"]]
    if failed:
        if not as_json:
            ui.error(
                f"failed on {len(failed)} of {len(results)}: "
                + ", ".join(r["name"] for r in failed)
            )
        raise typer.Exit(int(ExitCode.FAILED))
