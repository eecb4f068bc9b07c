"""``move NAME --to HOST``: the client drives the two services (the plan, and what each
failure rolls back: :mod:`devbox.model.move_plan`); the image and /opt stream through it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container

if TYPE_CHECKING:
    from devbox.api.client import Client


def move(
    name: Annotated[
        str, typer.Argument(help="Container to move.", autocompletion=complete_container)
    ],
    to: Annotated[
        str, typer.Option("--to", help="The host it goes to: a [hosts.NAME] entry, or 'local'.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Move a container to another host: same name, MAC (so the same address on the same
    LAN), image state, /opt and SSH host keys. It stops for the move; the original is
    removed only once the copy answers SSH there; a failure leaves it as it was."""
    from devbox.cli import remote
    from devbox.model import move_plan

    source = remote.current_host()
    move_plan.check_hosts(source, to)
    ui = state.ui()
    t0 = time.monotonic()
    with _on(source):
        src = remote.client()
    with _on(to):
        dst = remote.client()
    stage = move_plan.RESERVE
    exported: dict[str, Any] = {}
    reserved: dict[str, Any] = {}
    rows = [r for r in src.get("/containers", all=True, no_size=True) if r["name"] == name]
    if not rows:
        from devbox.errors import UserError

        raise UserError(f"no container named '{name}' on {source}")
    try:
        reserved = dst.post("/imports", {"name": name, "image": rows[0].get("image", "")})
        stage = move_plan.EXPORT
        with _on(source):
            exported = remote.run(
                "POST",
                f"/containers/{quote(name)}/export",
                {"have_layers": reserved.get("layers") or []},
                f"move {name}: export",
            )
        stage = move_plan.SEND_IMAGE
        _send(src, dst, exported["id"], reserved["id"], "image", int(exported["image_bytes"]))
        stage = move_plan.SEND_OPT
        _send(src, dst, exported["id"], reserved["id"], "opt", int(exported["opt_bytes"]))
        stage = move_plan.IMPORT
        body = {key: exported[key] for key in ("image", "mac", "labels", "host_keys", "opt")}
        body.update(name=name, opt_top=exported["opt_top"], source=source)
        with _on(to):
            made = remote.run(
                "POST", f"/imports/{reserved['id']}/container", body, f"move {name}: import"
            )
    except BaseException:
        _roll_back(move_plan.rollback_for(stage), src, dst, to, source, exported, reserved)
        raise
    from devbox.errors import DevboxError, OperationFailed

    try:
        with _on(source):
            remote.run("POST", f"/exports/{exported['id']}/finish", {}, f"move {name}: remove")
    except DevboxError as err:
        plan = move_plan.rollback_for(move_plan.REMOVE)
        raise OperationFailed(
            f"{name} moved to {to}, but {plan.warning}: {err.message}",
            hint=f"remove it there: devbox --host {source} dockeruser remove-dev-container "
            f"{name} --purge",
        ) from None
    finally:
        src.close()
        dst.close()
    result = {**made, "from": source, "to": to, "seconds": round(time.monotonic() - t0, 2)}
    if as_json:
        ui.json(result)
        return
    ui.success(f"moved {name} from {source} to {to} in {result['seconds']}s: {made['ip']}")


@contextmanager
def _on(host: str) -> Iterator[None]:
    """Service calls in the block go to ``host`` (``local``: this machine)."""
    from devbox.cli import remote

    before = remote.current_host()
    remote.use_host(host)
    try:
        yield
    finally:
        remote.use_host(before)


def _send(src: Client, dst: Client, export_id: str, import_id: str, part: str, size: int) -> None:
    """One spooled file from the source's export to the destination's import, through
    here, with a byte count drawn."""
    from devbox.cli.ui.progress import reporter_for

    label = "image" if part == "image" else "/opt"
    reporter = reporter_for(state.ui(), f"move: send the {label}")
    t0 = time.monotonic()
    reporter.started(1, 1, label)
    try:
        done = src.send_file(
            dst,
            f"/exports/{export_id}/{part}",
            f"/imports/{import_id}/{part}",
            size,
            lambda sent: reporter.progress(label, sent, size, "bytes"),
        )
        reporter.finished(label, time.monotonic() - t0, f"{done} bytes")
    except BaseException as err:
        reporter.failed(label, time.monotonic() - t0, str(err))
        raise
    finally:
        reporter.close()


def _roll_back(
    plan: Any,
    src: Client,
    dst: Client,
    to: str,
    source: str,
    exported: dict[str, Any],
    reserved: dict[str, Any],
) -> None:
    """Do ``plan``'s actions; each is tried even when one before it failed (said, not
    raised: the first error is the one the person sees)."""
    from devbox.cli import remote
    from devbox.errors import DevboxError
    from devbox.model import move_plan

    ui = state.ui()
    for action in plan.actions:
        try:
            if action == move_plan.DROP_IMPORT and reserved:
                _drop_import(dst, to, reserved["id"])
            elif action == move_plan.RESTORE_SOURCE and exported:
                ui.info(f"devbox: move failed; {action}")
                with _on(source):
                    remote.run(
                        "DELETE",
                        f"/exports/{exported['id']}",
                        {"restart": True},
                        "move: put the source back",
                    )
        except DevboxError as err:
            ui.warning(f"could not {action}: {err.message}")


def _drop_import(dst: Client, to: str, import_id: str) -> None:
    """Drop the destination's import; once more on a new connection when ``dst``'s broke: a
    Ctrl-C that lands while an upload writes to an SSH channel can leave half a packet on the
    wire, and the SSH server then ends that whole session (seen as "dial-stdio exited -1")."""
    from devbox.cli import remote
    from devbox.errors import DevboxError

    path = f"/imports/{import_id}"
    try:
        dst.delete(path)
        return
    except DevboxError:
        with _on(to):
            fresh = remote.client()
    try:
        fresh.delete(path)
    finally:
        fresh.close()
