"""The IDE links: each names the container's SSH config Host alias and the checkout folder."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from devbox.model import ide_links


def test_vscode_link_names_the_ssh_host_and_the_folder() -> None:
    link = ide_links.vscode("alice-main")
    assert link.link == "vscode://vscode-remote/ssh-remote+alice-main/opt/src"
    assert (link.kind, link.host, link.project) == ("url", "alice-main", "/opt/src")


def test_jetbrains_link_carries_gateway_ssh_parameters() -> None:
    link = ide_links.jetbrains("alice-main", "/opt/src", "dev")
    parts = urlsplit(link.link)
    assert (parts.scheme, parts.netloc) == ("jetbrains-gateway", "connect")
    params = {k: v[0] for k, v in parse_qs(parts.fragment).items()}
    assert params == {
        "host": "alice-main",
        "type": "ssh",
        "deploy": "false",
        "projectPath": "/opt/src",
        "user": "dev",
        "port": "22",
    }


def test_eclipse_is_an_x11_ssh_command() -> None:
    link = ide_links.eclipse("alice-main")
    assert link.kind == "command"
    assert link.link == "ssh -X alice-main /opt/eclipse/eclipse"


@pytest.mark.parametrize(
    ("checkout", "folder"),
    [(None, "/opt"), ("", "/opt"), ("/opt", "/opt"), ("/opt/src", "/opt/src"), ("/optx", "/opt")],
)
def test_project_folder_falls_back_to_opt(checkout: str | None, folder: str) -> None:
    assert ide_links.project_folder(checkout) == folder


@pytest.mark.parametrize("host", ["", "a b", "a/b", "a#b", "a&b", "x@y", "a?b"])
def test_a_host_that_would_change_the_link_is_refused(host: str) -> None:
    for build in (ide_links.vscode, ide_links.jetbrains, ide_links.eclipse):
        with pytest.raises(ValueError):
            build(host)


@pytest.mark.parametrize("folder", ["opt/src", "/opt/a b", "/opt/../etc"])
def test_a_bad_folder_is_refused(folder: str) -> None:
    with pytest.raises(ValueError):
        ide_links.vscode("alice-main", folder)


def test_build_picks_the_ide_and_refuses_an_unknown_one() -> None:
    assert ide_links.build("jetbrains", "c1", "/opt").ide == "jetbrains"
    assert ide_links.build("vscode", "c1", "/opt").link.endswith("ssh-remote+c1/opt")
    with pytest.raises(ValueError):
        ide_links.build("emacs", "c1", "/opt")
    assert ide_links.vscode("c1").to_dict()["link"] == ide_links.vscode("c1").link
