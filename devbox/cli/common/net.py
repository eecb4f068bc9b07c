"""``devbox common net attach|detach|show``: a container's own interface, MAC and IP."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import typer

from devbox.cli import state

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Give containers their own LAN interface (macvlan), MAC and IP "
    "(DHCP or static): the pipework replacement.",
)


def _expiry(value: float | None) -> str:
    if value is None:
        return "-"
    left = int(value - time.time())
    return time.strftime("%H:%M:%S", time.localtime(value)) + (
        f" ({left}s)" if left > 0 else " (expired)"
    )


def _rows(items: list[dict[str, Any]]) -> list[list[object]]:
    return [
        [
            a["container"],
            a["ifname"],
            a["parent"],
            a["vlan"] if a["vlan"] is not None else "-",
            a["mac"],
            "\n".join([a["cidr"] or "-", *a.get("ipv6", [])]),
            a["gateway"] or "-",
            _expiry(a["lease_expiry"]),
            a["state"],
        ]
        for a in items
    ]


def _json(items: Any) -> Any:
    """What --json printed before: the attachments' fields, without the rendered ``cidr``."""
    if isinstance(items, list):
        return [_json(a) for a in items]
    return {k: v for k, v in items.items() if k != "cidr"}


COLUMNS = [
    "container",
    "interface",
    "parent",
    "vlan",
    "mac",
    "ip",
    "gateway",
    "lease expiry",
    "state",
]


@app.command("attach")
def attach(
    container: Annotated[str, typer.Argument(help="Running container (name or id).")],
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            help="Host NIC to hang the macvlan off (default: setting 'parent', else "
            "the lab uplink).",
        ),
    ] = None,
    vlan: Annotated[
        int | None, typer.Option("--vlan", help="802.1Q VLAN id (1-4094) on the parent.")
    ] = None,
    ifname: Annotated[
        str | None,
        typer.Option(
            "--ifname", help="Interface name inside the container (default: setting 'ifname')."
        ),
    ] = None,
    mac: Annotated[
        str | None,
        typer.Option(
            "--mac", help="MAC address (default: derived from the container name, stable)."
        ),
    ] = None,
    ip: Annotated[
        str | None,
        typer.Option(
            "--ip", help="Static address with prefix, e.g. 192.168.1.50/24 (default: DHCP)."
        ),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option("--gateway", help="Default gateway for --ip.")
    ] = None,
    dhcp: Annotated[
        bool, typer.Option("--dhcp", help="Get the address by DHCP (default).")
    ] = False,
    mtu: Annotated[int | None, typer.Option("--mtu", help="MTU (default: the parent's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Plumb a LAN interface into a running container and give it an address (admins)."""
    from devbox.cli import remote

    ui = state.ui()
    body = {
        "parent": parent,
        "vlan": vlan,
        "ifname": ifname,
        "mac": mac,
        "ip": ip,
        "gateway": gateway,
        "dhcp": dhcp,
        "mtu": mtu,
    }
    att = remote.run("POST", f"/net/{quote(container, safe='')}", body, f"net attach {container}")
    if as_json:
        ui.json(_json(att))
        return
    ui.success(
        f"{att['container']}: {att['ifname']} {att['mac']} {att['cidr']} on {att['parent']}"
        + (f" (VLAN {att['vlan']})" if att["vlan"] is not None else "")
        + (f", lease until {_expiry(att['lease_expiry'])}" if att["lease_expiry"] else "")
    )


@app.command("detach")
def detach(
    container: Annotated[str, typer.Argument(help="Container (name or id).")],
    ifname: Annotated[
        str | None,
        typer.Option("--ifname", help="Only this interface (default: all devbox interfaces)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Release the DHCP lease (DHCPRELEASE) and remove the container's LAN interface
    (admins)."""
    from devbox.cli import remote

    done = remote.run(
        "DELETE", f"/net/{quote(container, safe='')}", {"ifname": ifname}, f"net detach {container}"
    )
    if as_json:
        state.ui().json(_json(done))
        return
    for a in done:
        state.ui().success(
            f"{a['container']}: removed {a['ifname']}"
            + (f", released {a['ip']}" if a["mode"] == "dhcp" and a["ip"] else "")
        )


@app.command("show")
def show(
    container: Annotated[str | None, typer.Argument(help="Only this container.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List container LAN interfaces: parent, VLAN, MAC, IP, gateway, lease expiry, state
    (admins)."""
    from devbox.cli import remote

    items = remote.client().get("/net", container=container)
    if as_json:
        state.ui().json(_json(items))
        return
    state.ui().table("container LAN interfaces", COLUMNS, _rows(items))


@app.command("connect")
def connect(
    container: Annotated[str, typer.Argument(help="Container (name or id).")],
    port: Annotated[int, typer.Argument(help="TCP port on the container's LAN address.")] = 22,
) -> None:
    """Relay stdin/stdout to a TCP port of the container's LAN address (an ssh ProxyCommand:
    works even when the host has no shim on the parent). Root relays itself (it enters the
    container's network namespace); anyone else through the devbox service, for containers
    they may act on."""
    import os

    if os.geteuid() == 0:
        from devbox.services import host_reach

        host_reach.relay_stdio(state.config(), container, port)
        return
    from urllib.parse import quote

    from devbox.api.client_connect import relay_stdio
    from devbox.cli import remote

    if remote.via_host() is not None:
        from devbox.errors import UserError

        raise UserError(
            "net connect reaches this machine's containers only",
            hint="for another host's: ssh NAME (its entry jumps through that host)",
        )
    api = remote.client()  # refusals (not yours, no address) come here as one-line errors
    api.get(f"/containers/{quote(container, safe='')}/reach", port=port)
    relay_stdio(api.path, container, port)
