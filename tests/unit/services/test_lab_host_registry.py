"""A simulated host's registry set-up, the pure parts: its settings file, its docker login
file, and which registry addresses a host on the lab LAN can reach."""

from __future__ import annotations

import base64
import json
import tomllib

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model.lab_plan import plan as lab_plan
from devbox.services import lab_host_registry as reg


def test_config_text_is_the_registry_settings_devbox_reads() -> None:
    text = reg.config_text("10.214.9.2:5443", True)
    assert tomllib.loads(text) == {"registry": {"address": "10.214.9.2:5443", "tls": True}}
    with pytest.raises(UserError):
        reg.config_text('x"]\n[evil', False)


def test_login_json_holds_the_login_for_that_address_only() -> None:
    data = json.loads(reg.login_json("10.214.9.2:5443", {"username": "al", "password": "pw:x"}))
    token = data["auths"]["10.214.9.2:5443"]["auth"]
    assert base64.b64decode(token).decode() == "al:pw:x"
    assert list(data["auths"]) == ["10.214.9.2:5443"]
    assert json.loads(reg.login_json("10.214.9.2:5443", None)) == {"auths": {}}


def test_only_a_lab_address_is_reachable_from_the_hosts() -> None:
    cfg = config.load(
        environ={"DEVBOX_ROOT": "/tmp/dbx-unit", "DEVBOX_LAB_SUBNET": "10.214.9.0/24"}, files=()
    )
    lab = lab_plan(cfg)
    assert reg.on_lab(lab, f"{lab.shim_address}:5443")
    assert not reg.on_lab(lab, "172.17.0.1:5443")
    assert not reg.on_lab(lab, "buildhost:5443")
