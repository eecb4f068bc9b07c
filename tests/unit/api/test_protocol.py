from __future__ import annotations

import base64
import json

import pytest

from devbox.api import protocol


def test_settings_round_trip_forwards_only_what_devbox_and_its_tools_read() -> None:
    environ = {
        "DEVBOX_ROOT": "/srv/devbox",
        "DOCKER_HOST": "unix:///run/other.sock",
        "P4PORT": "ssl:p4:1666",
        "HOME": "/root",
        "PATH": "/usr/bin:/bin",
        "SECRET_TOKEN": "no",
        "LD_PRELOAD": "/tmp/evil.so",
    }
    header = protocol.encode_settings(environ, {"root": "/srv/devbox"})
    got_env, overrides = protocol.decode_settings(header)
    assert got_env == {k: v for k, v in environ.items() if k not in ("SECRET_TOKEN", "LD_PRELOAD")}
    assert overrides == {"root": "/srv/devbox"}


@pytest.mark.parametrize(
    "raw",
    [
        "not base64!",
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(json.dumps({"environ": {"A": 1}, "overrides": {}}).encode()).decode(),
        base64.b64encode(json.dumps({"environ": {}}).encode()).decode(),
    ],
)
def test_a_bad_settings_header_is_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        protocol.decode_settings(raw)


def test_a_root_job_has_the_clis_settings_not_the_services() -> None:
    service = {"DEVBOX_LAB_NAME": "svc", "PATH": "/svc/bin", "LANG": "C", "OTHER": "kept"}
    client = {"PATH": "/usr/bin", "DEVBOX_ROOT": "/r"}
    assert protocol.job_environ(service, client) == {
        "OTHER": "kept",
        "PATH": "/usr/bin",
        "DEVBOX_ROOT": "/r",
    }
