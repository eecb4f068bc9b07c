"""The engine's client: no environment lookups per call on a local socket (requests reads the
proxy variables and checks the bypass list on every call otherwise), kept over TCP."""

from __future__ import annotations

import docker
import pytest
import requests

from devbox.adapters.docker import engine


def _client(base_url: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=base_url, version="1.41")  # no engine is asked


def test_a_local_socket_client_reads_no_proxy_settings_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cl = engine.tuned(_client("unix:///run/devbox-test-none.sock"))
    looked: list[str] = []
    monkeypatch.setattr(
        requests.sessions, "get_environ_proxies", lambda url, **_: looked.append(url) or {}
    )
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    with pytest.raises(requests.exceptions.ConnectionError):
        cl.api.inspect_container("x")  # no such socket: the call goes as far as connecting
    assert looked == [] and cl.api.trust_env is False


def test_a_tcp_engine_keeps_the_proxy_settings() -> None:
    cl = engine.tuned(_client("tcp://127.0.0.1:2375"))
    assert cl.api.trust_env is True
