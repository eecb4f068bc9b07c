"""``devbox containerauthor build-base``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def build_base(
    distro: Annotated[
        str,
        typer.Argument(
            help="Base to build, e.g. debian-12, ubuntu-22.04, "
            "rocky-9, centos-7 (roles/containerauthor/bases/)."
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Rebuild even if an image built from the same inputs exists."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Bootstrap a distribution from its mirror into a systemd-ready base image.

    Debian/Ubuntu use debootstrap (mirror.debian / mirror.ubuntu settings); Rocky/CentOS use
    dnf/yum --installroot with the repo files of roles/common/yum/<distro>/. The image is tagged
    base/<distro>:<release>. Unchanged inputs skip the build unless --force. For admins.
    """
    from devbox.cli import remote

    ui = state.ui()
    body = {"name": distro, "force": force}
    result = remote.run("POST", "/bases", body, f"build-base {distro}")
    if as_json:
        ui.json(result)
    elif result["skipped"]:
        ui.success(
            f"{result['tag']} is up to date ({result['image_id'][:19]}); use --force to rebuild"
        )
    else:
        ui.success(
            f"built {', '.join(result['tags'])} ({result['image_id'][:19]}) in "
            f"{result['seconds']:.1f}s"
        )
