"""Starting, stopping and installing the devbox daemon (the loop itself is services.daemon)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from devbox.config import Config
from devbox.errors import OperationFailed
from devbox.paths import Layout
from devbox.state.daemon_pid import log_file, pid_file, running_pid
from devbox.waits import poll, wait_until

UNIT_NAME = "devbox-daemon.service"
# the service's Python: no working folder or script folder first on sys.path (-P), so no
# module is ever imported from where root happened to be (a container's /opt on the host)
SAFE_PYTHON = ("-P",)


# What the service started by root's CLI keeps of that terminal's environment: it runs every
# user's jobs, so root's personal credentials (SSH agent, Perforce password and tickets,
# tokens) stay behind; root's own jobs get them with each request (protocol.SETTINGS_HEADER).
SERVICE_ENV: tuple[str, ...] = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ")
SERVICE_ENV += ("TMPDIR", "PYTHONPATH", "NO_COLOR", "P4PORT", "P4CHARSET")
SERVICE_ENV_PREFIXES = ("DEVBOX_", "DOCKER_", "LC_")


def service_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in environ.items() if k in SERVICE_ENV or k.startswith(SERVICE_ENV_PREFIXES)
    }


def ensure_running(cfg: Config, timeout: float = 10.0) -> int:
    """Start the daemon detached if it is not running; return its PID."""
    from devbox.adapters.host import spawn

    pid = running_pid(cfg)
    if pid is not None:
        return pid
    layout = Layout(cfg.root)
    layout.logs.mkdir(parents=True, exist_ok=True)
    env = service_environ({**os.environ, **dict(cfg.environ)})
    spawn.detached(
        [sys.executable, *SAFE_PYTHON, "-m", "devbox", "--root", str(cfg.root), "common", "daemon"],
        output=layout.logs / "daemon.out",
        env=env,
    )
    return wait_until(
        lambda: running_pid(cfg),
        timeout,
        0.05,
        "the devbox daemon",
        error=lambda: OperationFailed(
            "devbox daemon did not start",
            hint=f"see {layout.logs / 'daemon.out'} and {log_file(cfg)}",
        ),
    )


def stop(cfg: Config, timeout: float = 15.0) -> int | None:
    """Stop a running daemon (SIGTERM to its pid-file PID); its leases stay valid."""
    pid = running_pid(cfg)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    # its pid file goes first, then the process (it waits for its jobs): both, bounded
    if not poll(lambda: running_pid(cfg) is None and not _alive(pid), timeout, 0.05):
        raise OperationFailed(
            f"the devbox daemon (pid {pid}) did not stop within {timeout:g}s",
            hint=f"see {log_file(cfg)}; kill -9 {pid} stops it (leases stay on disk)",
        )
    return pid


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def render_unit(cfg: Config, exec_start: list[str]) -> str:
    from devbox.adapters import templates

    return templates.render(
        "devbox-daemon.service.j2",
        {
            "exec_start": " ".join(exec_start),
            "root": str(cfg.root),
            "pid_file": str(pid_file(cfg)),
        },
    )


def unit_text(cfg: Config) -> str:
    """The unit :func:`install` writes: the ``devbox`` next to the running interpreter (a
    venv's or a wheel's own), else the one on PATH."""
    import shutil

    beside = Path(sys.executable).parent / "devbox"
    devbox_bin = str(beside) if beside.is_file() else shutil.which("devbox") or str(beside)
    return render_unit(cfg, [devbox_bin, "--root", str(cfg.root), "common", "daemon"])


def install(cfg: Config, unit_dir: Path = Path("/etc/systemd/system")) -> tuple[Path, bool]:
    """Write the systemd unit; enable and start it when systemd runs. (path, started)."""
    from devbox.adapters.host import process

    text = unit_text(cfg)
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / UNIT_NAME
    path.write_text(text)
    if Path("/run/systemd/system").is_dir() and unit_dir == Path("/etc/systemd/system"):
        systemctl = process.require("systemctl", "systemd")
        process.run([systemctl, "daemon-reload"], timeout=120)
        process.run([systemctl, "enable", "--now", UNIT_NAME], timeout=120)
        return path, True
    return path, False
