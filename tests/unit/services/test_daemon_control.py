"""What the service root's CLI starts keeps of root's environment."""

from __future__ import annotations

from devbox.services.daemon_control import service_environ


def test_the_service_keeps_its_settings_and_drops_roots_credentials() -> None:
    kept = service_environ(
        {
            "PATH": "/usr/bin",
            "HOME": "/root",
            "DEVBOX_ROOT": "/srv/devbox",
            "DOCKER_HOST": "unix:///run/docker.sock",
            "LC_ALL": "C.UTF-8",
            "P4PORT": "ssl:p4:1666",
            "P4PASSWD": "secret",
            "P4TICKETS": "/root/.p4tickets",
            "SSH_AUTH_SOCK": "/tmp/agent.sock",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
    )
    assert kept == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "DEVBOX_ROOT": "/srv/devbox",
        "DOCKER_HOST": "unix:///run/docker.sock",
        "LC_ALL": "C.UTF-8",
        "P4PORT": "ssl:p4:1666",
    }
