"""``devbox common doctor``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devbox.cli import state


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Check that this host can run devbox: Docker, privileges, kernel, LAN, tools, storage.

    Exits non-zero when something needed fails; each failure comes with its fix. For admins
    (root or group devbox-admin): the devbox service runs the checks.
    """
    from devbox.cli import remote

    data = remote.client().get("/doctor")
    checks: list[dict[str, Any]] = data["checks"]
    failed = [c for c in checks if c["needed"] and not c["ok"]]
    if as_json:
        state.ui().json({"ok": not failed, "checks": checks})
    else:
        rows = [
            [
                ("OK" if c["ok"] else ("FAIL" if c["needed"] else "WARN")),
                c["name"],
                c["detail"],
                c["fix"],
            ]
            for c in checks
        ]
        state.ui().table("devbox doctor", ["", "check", "detail", "fix"], rows)
    if failed:
        from devbox.errors import ExitCode

        if not as_json:
            state.ui().error(
                f"{len(failed)} check(s) failed: " + ", ".join(c["name"] for c in failed)
            )
        raise typer.Exit(int(ExitCode.NOT_READY))
