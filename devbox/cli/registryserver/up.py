"""``devbox registryserver up`` / ``down``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def up(
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Run this registry image (e.g. "
            "registry:2 where a site has it) instead of "
            "building devbox/registry.",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to serve on (setting registry.port).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Blob storage on the host (setting registry.storage)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Start the private registry: TLS with devbox's CA, htpasswd auth, restart policy.

    Storage (default /opt/registry) survives down/up. The CA is installed for the Docker engine
    in /etc/docker/certs.d/HOST:PORT/. Add users with 'devbox registryserver user add'.
    """
    from devbox.cli import remote

    # a bad value fails here, before the service is asked
    state.config(registry__image=image, registry__port=port, registry__storage=storage)
    ui = state.ui()
    body = {"image": image, "port": port, "storage": storage}
    result = remote.run("POST", "/registry/up", body, "registryserver up")
    if as_json:
        ui.json(result)
    else:
        scheme = "TLS" if result["tls"] else "plain HTTP"
        ui.success(
            f"registry {result['name']} serving {result['address']} ({scheme}), "
            f"storage {result['storage']}"
        )


def down(
    purge_trust: Annotated[
        bool,
        typer.Option(
            "--remove-ca", help="Also remove devbox's CA from the engine's trust for this registry."
        ),
    ] = False,
) -> None:
    """Stop and remove the registry container. Storage, users and certificates are kept."""
    from devbox.cli import remote

    result = remote.run("POST", "/registry/down", {"remove_ca": purge_trust}, "registryserver down")
    if result["removed"]:
        state.ui().success(f"registry {result['name']} stopped; storage {result['storage']} kept")
    else:
        state.ui().info(f"no registry container named {result['name']}")
