from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import container_plan, labels
from devbox.model.container_plan import MakeOptions


def test_labels_carry_everything_list_needs() -> None:
    opts = MakeOptions(name="alice-main", branch="main", vlan=42)
    lb = container_plan.container_labels(
        opts,
        "devbox/dev:latest",
        "dbx-lab0",
        "0a:00:00:00:00:01",
        "lan0",
        "/opt/containers/a/opt",
        {"devbox.test-run": "x"},
    )
    assert lb[labels.ROLE] == "dockeruser"
    assert lb[labels.KIND] == "dev"
    assert lb[labels.BRANCH] == "main"
    assert lb[labels.IMAGE] == "devbox/dev:latest"
    assert lb[labels.PARENT] == "dbx-lab0"
    assert lb[labels.VLAN] == "42"
    assert lb[labels.MAC] == "0a:00:00:00:00:01"
    assert lb[labels.NET] == "dhcp"
    assert "@" in lb[labels.CREATED_BY]
    assert lb["devbox.test-run"] == "x"


def test_no_vlan_label_without_vlan() -> None:
    lb = container_plan.container_labels(
        MakeOptions(name="a", branch="b"), "i", "p", "m", "l", "/o", {}
    )
    assert labels.VLAN not in lb


def test_label_setting_parsing() -> None:
    assert container_plan.parse_label_setting("") == {}
    assert container_plan.parse_label_setting("a=1, b = x=y") == {"a": "1", "b": "x=y"}
    with pytest.raises(UserError, match="key=value"):
        container_plan.parse_label_setting("novalue")


def test_authorized_keys_dedupes_and_drops_comments() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabc alice@laptop"
    text = container_plan.authorized_keys(
        [key, "# team\n\n" + key.replace("alice", "again"), "ssh-rsa AAAAB3Nza bob", "garbage"]
    )
    assert text.splitlines() == [key, "ssh-rsa AAAAB3Nza bob"]


def test_proxy_command_names_a_root_that_is_not_the_default() -> None:
    """A container made with --root is reached through that root's lease record: the
    ProxyCommand in its SSH entry (and in 'devbox ssh') must say so."""
    from devbox import config
    from devbox.services.host_reach import proxy_command

    default = config.load(environ={}, files=())
    assert proxy_command(default, "web") == "devbox common net connect web %p"
    other = config.load(environ={"DEVBOX_ROOT": "/srv/dev boxes"}, files=())
    assert proxy_command(other, "web") == "devbox --root '/srv/dev boxes' common net connect web %p"


def test_passwd_ids_reads_the_login_users_ids() -> None:
    text = "root:x:0:0:root:/root:/bin/bash\ndev:x:1000:1001:dev:/home/dev:/bin/bash\n"
    assert container_plan.passwd_ids(text, "dev") == (1000, 1001)
    assert container_plan.passwd_ids(text, "root") == (0, 0)


def test_passwd_ids_is_none_for_anything_it_cannot_trust_as_written() -> None:
    assert container_plan.passwd_ids("root:x:0:0:root:/root:/bin/bash\n", "dev") is None
    assert container_plan.passwd_ids("dev:x:-1:1000:dev:/home/dev:/bin/sh\n", "dev") is None
    assert container_plan.passwd_ids("dev:x:1000:1000:dev:/srv/dev:/bin/sh\n", "dev") is None
    assert container_plan.passwd_ids("dev:x:1000:1000\n", "dev") is None
