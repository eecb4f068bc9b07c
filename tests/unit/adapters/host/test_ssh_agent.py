"""Against a real ssh-agent (OpenSSH's), holding a real key."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from devbox.adapters.host import ssh_agent

pytestmark = pytest.mark.skipif(
    not (shutil.which("ssh-agent") and shutil.which("ssh-add")), reason="openssh-client missing"
)


def test_the_keys_an_agent_holds(tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        assert ssh_agent.public_keys(str(sock)) == []
        keys = []
        for kind in ("ed25519", "rsa"):
            key = tmp_path / f"id_{kind}"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"me-{kind}", "-f", str(key)],
                check=True,
            )
            subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
            keys.append(Path(f"{key}.pub").read_text().strip())
        assert sorted(ssh_agent.public_keys(str(sock))) == sorted(keys)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(10)


def test_no_agent_is_no_keys(tmp_path: Path) -> None:
    assert ssh_agent.public_keys(str(tmp_path / "none.sock")) == []
    plain = tmp_path / "file"
    plain.write_text("x")
    assert ssh_agent.public_keys(str(plain)) == []
