"""``devbox dockeruser clone``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container
from devbox.cli.options import CpusOpt, MemoryOpt, PidsOpt


def clone(
    source: Annotated[
        str,
        typer.Argument(
            help="Container to clone (it keeps running).", autocompletion=complete_container
        ),
    ],
    count: Annotated[int, typer.Option("--count", "-n", help="How many clones to make.")] = 1,
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Clone names are PREFIX1, PREFIX2, ... (default: SOURCE-c1, SOURCE-c2, ...; "
            "numbering continues after existing clones)."
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Clones made at once (default: 2 per CPU, at most 16)."),
    ] = None,
    memory: MemoryOpt = None,
    cpus: CpusOpt = None,
    pids: PidsOpt = None,
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts",
            help="Spread the clones over these hosts ('local,h2', names of 'devbox common "
            "hosts list'), or 'auto' (this machine and every listed host that answers), by "
            "free memory and your quota on each. SOURCE's /opt snapshot goes to each other "
            "host once, streamed over SSH.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Clone a container N times for peer testing.

    SOURCE is paused for a moment while its root filesystem is committed and its /opt is
    snapshotted (reflink where the filesystem supports it, else one copy). Each clone gets /opt
    as an overlay on that snapshot (it costs only what it writes), a new machine-id, fresh SSH
    host keys, its own hostname, MAC and DHCP lease. A clone that fails is rolled back and
    reported; the others stay.

    Example: devbox dockeruser clone alice-main --count 20 --jobs 10
    """
    from devbox.api import client_ssh
    from devbox.cli import remote
    from devbox.cli.ui.clone_board import board_for
    from devbox.errors import ExitCode
    from devbox.model import clone_plan
    from devbox.model.limits import request

    asked = request(memory, cpus, pids)  # a bad value fails here, before the service is asked
    clone_plan.clone_names(source, count, (), prefix)  # names, count, prefix: exit 2 now
    ui = state.ui()
    board = board_for(ui)
    body = {
        "count": count,
        "prefix": prefix,
        "jobs": jobs,
        "memory": memory,
        "cpus": cpus,
        "pids": pids,
        # used when the clones are not the source owner's (an admin's): their keys let in
        "public_keys": client_ssh.own_public_keys(),
        # each clone's SSH facts in the reply (a service that does not know this sends none:
        # the client asks for each then)
        "reach": True,
    }
    if hosts is not None:
        from devbox.cli.dockeruser import clone_hosts

        try:
            spread = clone_hosts.run(source, count, hosts, prefix, body, board.reporter, asked)
        finally:
            board.close()
        _render_spread(spread, as_json)
        return
    try:
        data = remote.run(
            "POST", f"/containers/{source}/clones", body, f"clone {source}", board.reporter
        )
    finally:
        board.close()
    run = clone_plan.run_from_dict(data)
    _write_ssh_entries({c.name: c.reach for c in run.clones if c.ok})
    if as_json:
        ui.json(run.to_dict())
    else:
        ok = [c for c in run.clones if c.ok]
        ui.success(
            f"{len(ok)} of {len(run.clones)} clone(s) of {source} ready in "
            f"{run.seconds:.1f}s (freeze {run.freeze_seconds:.1f}s, /opt snapshot by "
            f"{run.snapshot_method})"
        )
        ui.table(
            None,
            ["clone", "result", "IP", "MAC", "seconds"],
            [
                [
                    c.name,
                    "ready" if c.ok else "FAILED, rolled back",
                    c.ip or "-",
                    c.mac or "-",
                    f"{c.seconds:.1f}",
                ]
                for c in run.clones
            ],
        )
        for c in run.failed:
            ui.error(f"{c.name}: {c.error}", hint=f"log: {c.log}")
    if run.failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _render_spread(spread: dict, as_json: bool) -> None:
    """``--hosts``: the SSH entries of the clones made (each through its host), then the
    result, one row per clone with its host; a host that failed is named (exit 4)."""
    from devbox.errors import ExitCode

    by_host: dict[str, dict[str, dict[str, Any] | None]] = {}
    for c in spread["clones"]:
        if c["ok"]:
            by_host.setdefault(c["host"], {})[c["name"]] = c.get("reach")
    for host, facts in by_host.items():
        _write_ssh_entries(facts, host)
    ui = state.ui()
    failed = [c for c in spread["clones"] if not c["ok"]]
    if as_json:
        ui.json(spread)
    else:
        ok = len(spread["clones"]) - len(failed)
        hosts = spread["hosts"]
        ui.success(
            f"{ok} of {len(spread['clones'])} clone(s) of {spread['source']} ready on "
            f"{len(hosts)} host(s) in {spread['seconds']:.1f}s (freeze "
            f"{spread['freeze_seconds']:.1f}s)"
        )
        ui.table(
            None,
            ["clone", "host", "result", "IP", "MAC", "seconds"],
            [
                [
                    c["name"],
                    c["host"],
                    "ready" if c["ok"] else "FAILED, rolled back",
                    c["ip"] or "-",
                    c["mac"] or "-",
                    f"{c['seconds']:.1f}",
                ]
                for c in spread["clones"]
            ],
        )
        for host, facts in hosts.items():
            if facts["sent_bytes"]:
                ui.info(
                    f"{host}: snapshot sent once, {sum(facts['sent_bytes'].values())} bytes "
                    f"in {facts['send_seconds']:.1f}s"
                )
            if facts["error"]:
                ui.error(f"{host}: {facts['error']}", hint="its clones were rolled back there")
        for c in failed:
            if not hosts[c["host"]]["error"]:
                ui.error(f"{c['name']} ({c['host']}): {c['error']}", hint=f"log: {c['log']}")
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _write_ssh_entries(clones: dict[str, dict[str, Any] | None], host: str | None = None) -> None:
    """The SSH config entry of each clone made, from the facts its job handed back (name ->
    facts; None: not given, as from a host of an older devbox, and the service is asked). The
    clones are made: an entry not written (the host or its engine gone right after) is a
    warning naming how to log in, never an error that would lose the clones' result
    ('devbox dockeruser ssh' writes a user's entry then)."""
    from devbox.api import client_ssh
    from devbox.errors import DevboxError
    from devbox.model.hosts import LOCAL

    missed: dict[str, str] = {}
    try:
        as_root, via = _entries_target(host)
    except (DevboxError, OSError) as err:  # no way to that host: no entry written
        missed = {name: str(err) for name in clones}
    else:
        ask: list[str] = []  # no facts given: the service is asked for them
        for name, facts in clones.items():
            if facts is None:
                ask.append(name)
                continue
            try:
                client_ssh.record(_facts_of(name, facts), as_root=as_root, via=via)
            except (DevboxError, OSError) as err:  # ~/.ssh not writable, say
                missed[name] = str(err)
        if ask:
            missed.update(_ask_and_record(ask, host, as_root, via))
    login = "devbox" + ("" if host in (None, LOCAL) else f" --host {host}") + " dockeruser ssh"
    for name, why in missed.items():
        state.ui().warning(
            f"{name}: no SSH config entry written ({why}); log in with '{login} {name}'"
        )


def _ask_and_record(names: list[str], host: str | None, as_root: bool, via: Any) -> dict[str, str]:
    """Ask the service for the facts of each of ``names`` and write its entry: the names not
    written, with why."""
    from devbox.api import client_ssh
    from devbox.errors import DevboxError

    missed: dict[str, str] = {}
    api = None
    try:
        api = _entries_client(host)
        for i, name in enumerate(names):
            try:
                facts = _facts_of(name, api.get(f"/containers/{name}"))
                client_ssh.record(facts, as_root=as_root, via=via)
            except DevboxError as err:  # an engine restarting: the next names may get through
                missed[name] = str(err)
            except OSError as err:  # the service or host gone: no use asking for the rest
                missed.update({n: str(err) for n in names[i:]})
                break
    except (DevboxError, OSError) as err:  # no way to that host: no entry written
        missed = {name: str(err) for name in names}
    finally:
        if api is not None:
            api.close()
    return missed


def _facts_of(name: str, facts: Any) -> dict[str, Any]:
    """``facts`` when they are a clone's facts about ``name`` itself: another host's service
    must not write the entry or host keys of a container it was not asked about."""
    from devbox.errors import OperationFailed

    if not isinstance(facts, dict) or facts.get("name") != name:
        raise OperationFailed(f"the devbox service sent another container's SSH facts for {name}")
    return facts


def _entries_target(host: str | None) -> tuple[bool, Any]:
    """(as root, via host) for the entries of ``host``'s clones (None: this command's own
    host; ``clone --hosts``: each host's own clones, through that host)."""
    import os

    from devbox.cli import remote
    from devbox.model.hosts import LOCAL
    from devbox.state import host_list

    if host is None:
        return remote.local_root(), remote.via_host()
    if host == LOCAL:
        return os.geteuid() == 0, None
    return False, host_list.resolve(host, state.config().environ)


def _entries_client(host: str | None) -> Any:
    """The API client of ``host``'s service (None: this command's own host)."""
    from devbox.cli import remote
    from devbox.model.hosts import LOCAL

    if host is None:
        return remote.client()
    cfg = state.config()
    return remote.local_client(cfg) if host == LOCAL else remote.host_client(host, cfg.environ)
