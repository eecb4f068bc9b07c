"""``devbox common lab up|down|status``: the built-in lab LAN."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from devbox.cli import state

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="The built-in lab LAN: a DHCP server in a network namespace, joined to "
    "the host by a veth pair whose host end is the default macvlan parent.",
)


@app.command("up")
def up(
    vlan: Annotated[
        list[int] | None,
        typer.Option(
            "--vlan",
            help="Also serve tagged VLAN ID with its own DHCP range (repeatable; "
            "needs 802.1Q in the kernel).",
        ),
    ] = None,
    hosts: Annotated[
        int | None,
        typer.Option(
            "--hosts",
            help="Hosts on the lab LAN: this machine and N-1 simulated ones (each a network "
            "namespace with its own dockerd, sshd and devbox service). Default: as many as "
            "the lab has; 1 removes the simulated ones.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Bring the lab LAN up (idempotent: makes only what is missing, restarts a dead dnsmasq).
    A subnet (lab.subnet) this host already reaches, through another lab, a LAN or a VPN, is
    refused before anything is made. Admins (root or group devbox-admin): the devbox service
    does it."""
    from devbox.cli import remote

    ui = state.ui()
    body = {"vlans": list(vlan or ()), "hosts": hosts}
    view = remote.run("POST", "/lab", body, "lab up")
    if as_json:
        ui.json(view)
        return
    ui.success(
        f"lab LAN {view['name']} is up: subnet {view['subnet']}, DHCP {view['range']}, "
        f"dnsmasq pid {view['dnsmasq_pid']}"
    )
    ui.info(
        f"macvlan parent: {view['uplink']}; host reaches the lab through {view['shim']} "
        f"({view['shim_address']})"
    )
    for h in view["hosts"]:
        ui.info(
            f"host {h['name']}: {h['address']}, DOCKER_HOST={h['docker_host']}, "
            f"{h['service_socket']}"
        )


@app.command("down")
def down(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Remove the lab LAN: its simulated hosts (all they run and keep), its dnsmasq, host
    shim, veth pair and namespace (leases are kept). Admins: the devbox service does it."""
    from devbox.cli import remote

    removed = remote.run("DELETE", "/lab", None, "lab down")["removed"]
    if as_json:
        state.ui().json({"removed": removed})
        return
    if removed:
        state.ui().success("removed " + ", ".join(removed))
    else:
        state.ui().info("the lab LAN was not up; nothing to remove")


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show whether the lab LAN and its dnsmasq are up, and the leases it handed out."""
    from devbox.cli import remote

    st = remote.client().get("/lab")
    sims = st["hosts"]
    ui = state.ui()
    if as_json:
        ui.json(st)
        return
    ui.table(
        f"lab LAN {st['name']}: {'UP' if st['up'] else 'DOWN'}",
        ["", ""],
        [
            ["subnet", st["subnet"]],
            ["gateway (in netns)", st["gateway"]],
            ["DHCP range", st["range"]],
            [
                "uplink (default parent)",
                st["uplink"] + ("" if st["uplink_present"] else " (missing)"),
            ],
            ["host shim", f"{st['shim']} {st['shim_address']}"],
            ["dnsmasq", _state(st["dnsmasq_alive"], st["dnsmasq_pid"])],
            ["ping check", "on" if st["ping_check"] else "off"],
            ["lease file", st["lease_file"]],
        ],
    )
    now = time.time()
    rows = [
        [
            le["ip"],
            le["mac"],
            le["hostname"] or "-",
            "never" if le["expires"] == 0 else f"{max(0, int(le['expires'] - now))}s",
        ]
        for le in st["leases"]
    ]
    ui.table("leases (client ids: --json)", ["ip", "mac", "hostname", "expires in"], rows)
    if sims:
        ui.table(
            "simulated hosts",
            ["host", "address", "dockerd", "sshd", "devbox service"],
            [
                [
                    h["name"],
                    h["address"] or "-",
                    _state(h["dockerd_alive"], h["dockerd_pid"]),
                    _state(h["sshd_alive"], h["sshd_pid"]),
                    _state(h["service_alive"], h["service_pid"]),
                ]
                for h in sims
            ],
        )
    if not st["up"]:
        raise typer.Exit(3)


def _state(alive: bool, pid: int | None) -> str:
    if alive:
        return f"running (pid {pid})"
    return "not running" + (f" (stale pid {pid})" if pid else "")
