"""The old way's figures for the rows of ``bench.scale`` the old scripts (or their users) had,
measured on the same containers in the same run:

- list:   the old ``list-containers`` was the docker CLI: ``docker ps -a`` (name, status, image)
          and, since pipework's DHCP address lived only inside the container, one
          ``docker exec NAME ip -4 -o addr show dev IFNAME`` per running container.
- run-on: the old scripts had none; what a user did by hand: OpenSSH's ``ssh``, one process
          per container, 16 at once (``xargs -P 16``; devbox's run-on runs 16 at once too),
          with the same key and known_hosts devbox uses (``BatchMode``, strict host keys).

Remove has no old-way figure here: it would need 50 containers of its own (the old
``remove-dev-container`` was one ``docker rm -f`` after the other, plus ``rm -rf`` of /opt).
The docker CLI is the old way's own tool: this is the baseline, not devbox.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

AT_ONCE = 16


def _run(argv: list[str], timeout: float = 120) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"old way: {' '.join(argv[:4])}: exit {done.returncode}: {done.stderr.strip()[-300:]}"
        )
    return done.stdout


def available() -> str:
    """Why the old way cannot run here, or "" when it can."""
    missing = [tool for tool in ("docker", "ssh") if shutil.which(tool) is None]
    return f"no {' or '.join(missing)} on PATH" if missing else ""


def list_containers(names: list[str], ifname: str) -> float:
    """Seconds for the old listing of ``names`` (a name filter each, as the scripts' prefix
    filter): ``docker ps -a``, then the address from inside each running one."""
    t0 = time.perf_counter()
    argv = ["docker", "ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}"]
    rows = [line.split() for line in _run(argv).splitlines() if line.strip()]
    wanted = set(names)
    running = [r[0] for r in rows if r[0] in wanted and r[1] == "running"]
    if len(running) != len(names):
        raise RuntimeError(f"old way: docker ps shows {len(running)} of {len(names)} running")

    def address(name: str) -> str:
        return _run(["docker", "exec", name, "ip", "-4", "-o", "addr", "show", "dev", ifname])

    found = [a for a in map(address, running) if " inet " in a]  # the script's loop
    if len(found) != len(running):
        raise RuntimeError(f"old way: {len(found)} of {len(running)} have an address on {ifname}")
    return time.perf_counter() - t0


def run_on(addresses: list[str], key: str, known_hosts: str, user: str = "dev") -> float:
    """Seconds for ``ssh USER@IP true`` on every address, :data:`AT_ONCE` at a time."""

    def one(ip: str) -> None:
        _run(
            [
                "ssh",
                "-i",
                key,
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={known_hosts}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=10",
                "-F",
                "/dev/null",
                f"{user}@{ip}",
                "true",
            ],
            timeout=60,
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        list(pool.map(one, addresses))
    return time.perf_counter() - t0
