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


def _everywhere(body: dict[str, Any], names: list[str], timeout: float) -> list[dict[str, Any]]:
    """The run on every host at once, each on what it has; the rows get their ``host``. A
    host that does not answer is one failed row; a named container no host has, one too."""
    from devbox.cli import remote
    from devbox.errors import UserError

    fleet = remote.fleet("devbox dockeruser run-on --all-hosts --clones-of SRC -- CMD")
    asked = {**body, "here_only": True}
    answers = remote.on_hosts(
        fleet,
        lambda api: api.stream("POST", "/run-on", asked, lambda _event: None),
        bound=timeout + remote.HOST_BOUND,
    )
    rows: list[dict[str, Any]] = []
    for host, (found, error) in answers.items():
        if found is None:
            rows.append(_row(f"({host})", error or "no answer", host))
            continue
        rows += [{**r, "host": host} for r in found]
    seen = {r["name"] for r in rows}
    rows += [
        _row(n, "on no host of 'devbox common hosts list'", "") for n in names if n not in seen
    ]
    if not rows:
        raise UserError(
            "none of the hosts has those containers",
            hint="devbox dockeruser list-containers --all-hosts",
        )
    return rows


def _row(name: str, error: str, host: str) -> dict[str, Any]:
    return {
        "name": name,
        "exit_code": None,
        "seconds": 0.0,
        "stdout": "",
        "stderr": "",
        "error": error,
        "ip": "",
        "ok": False,
        "host": host,
    }


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
    all_hosts: Annotated[
        bool,
        typer.Option(
            "--all-hosts",
            help="Wherever the containers live: this machine ('local') and every host of "
            "'devbox common hosts list', in parallel (each runs on what it has).",
        ),
    ] = False,
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
    if all_hosts:
        results = _everywhere(body, targets, timeout)
    else:
        results = remote.run("POST", "/run-on", body, "run-on")
    ui = state.ui()
    if as_json:
        ui.json(results)
    else:
        ui.table(
            None,
            [
                *(["host"] if all_hosts else []),
                "container",
                "exit",
                "seconds",
                f"last {lines} line(s)",
            ],
            [
                [
                    *([r["host"]] if all_hosts else []),
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
