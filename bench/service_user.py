"""A bench user of the devbox service: a real unix account (useradd, in the service's group)
whose ``devbox`` is a client of the service's socket, and the service itself for a bench's
root.

The recipe is the one tests/integration/test_shared_host.py uses (copied, not imported: bench
code does not import test modules): an interpreter other users may run (the venv's python
lives under /root, so the system python3 of the same minor version with this checkout and the
venv's packages on PYTHONPATH), a clean environment with only the DEVBOX_ settings, HOME and
NO_COLOR. The CLI runs as the user straight from this process (``subprocess`` with
``user=``/``group=``/``extra_groups=``, no runuser or PAM session in between), so a timing is
what the user sees: their client process's start to its end.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.cli import REPO


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kw)


def user_python() -> tuple[list[str], dict[str, str]]:
    """An interpreter other users may run: this one, unless it lives under a private home
    (pyenv under /root), then the system's python3 with this venv's packages on its path."""
    real = Path(os.path.realpath(sys.executable))
    if all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
        return [sys.executable], {}
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    return ["/usr/bin/python3"], {"PYTHONPATH": ":".join([str(REPO), *site])}


class ServiceUser:
    """A throw-away account ``name`` in ``group`` (made if missing; removed at :meth:`close`
    only when this made it and no other account is in it), with an ed25519 key."""

    def __init__(self, name: str, settings: Mapping[str, str], group: str = "devbox") -> None:
        self.name = name
        self.group = group
        self.settings = {k: v for k, v in settings.items() if k.startswith("DEVBOX_")}
        self.made_group = False
        self.made_user = False
        self.home = Path(f"/home/{name}")

    def open(self) -> ServiceUser:
        if _run(["getent", "group", self.group]).returncode != 0:
            made = _run(["groupadd", self.group])
            if made.returncode != 0:
                raise RuntimeError(f"groupadd {self.group}: {made.stderr.strip()}")
            self.made_group = True
        if _run(["getent", "passwd", self.name]).returncode == 0:
            raise RuntimeError(f"account {self.name} exists already")
        made = _run(["useradd", "-m", "-s", "/bin/sh", "-G", self.group, self.name])
        if made.returncode != 0:
            raise RuntimeError(f"useradd {self.name}: {made.stderr.strip()}")
        self.made_user = True
        key = self.run_as(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{self.home}/.ssh/id_ed25519"]
        )
        if key.returncode != 0:
            raise RuntimeError(f"ssh-keygen as {self.name}: {key.stderr.strip()}")
        return self

    def close(self) -> list[str]:
        """Remove the account (and the group if this made it and it is empty now); what could
        not be removed, as messages."""
        left = []
        if self.made_user:
            gone = _run(["userdel", "-r", self.name])
            if gone.returncode != 0 and _run(["getent", "passwd", self.name]).returncode == 0:
                left.append(f"userdel -r {self.name}: {gone.stderr.strip()}")
        if self.made_group:
            entry = _run(["getent", "group", self.group]).stdout.strip()
            members = [m for m in entry.rsplit(":", 1)[-1].split(",") if m] if entry else []
            if entry and not members:
                _run(["groupdel", self.group])
            elif entry:
                left.append(f"group {self.group} kept (members now: {', '.join(members)})")
        return left

    def __enter__(self) -> ServiceUser:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        for line in self.close():
            print(f"cleanup: {line}", file=sys.stderr)

    # ---- running things as the user -------------------------------------------------------
    def _ids(self) -> dict[str, Any]:
        account = pwd.getpwnam(self.name)
        return {
            "user": account.pw_uid,
            "group": account.pw_gid,
            "extra_groups": [grp.getgrnam(self.group).gr_gid],
        }

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "NO_COLOR": "1",
            **self.settings,
            **(extra or {}),
        }

    def run_as(
        self, argv: Sequence[str], timeout: float = 120, python_path: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Any program as the user (their uid, gid and the service's group), in their home;
        ``python_path``: with devbox's PYTHONPATH (for a python of :func:`user_python`)."""
        return subprocess.run(
            list(argv),
            cwd=self.home,
            env=self.environ(user_python()[1] if python_path else None),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            **self._ids(),
        )

    def devbox_argv(self, args: Sequence[str], python: Sequence[str] = ()) -> list[str]:
        interpreter, _ = user_python()
        return [*interpreter, *python, "-m", "devbox", *args]

    def devbox(
        self, args: Sequence[str], *, timeout: float = 300, python: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """``devbox ARGS`` as the user runs it: a new process of their own, from the checkout."""
        _, extra = user_python()
        return subprocess.run(
            self.devbox_argv(args, python),
            cwd=REPO,
            env=self.environ(extra),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            **self._ids(),
        )


def start_service(cfg: Any, socket_path: Path, timeout: float = 30) -> int:
    """The devbox service of ``cfg``'s root running (started detached if it is not, with
    ``cfg``'s settings), its socket answering; its PID."""
    from devbox.services import daemon_control
    from devbox.waits import wait_until

    pid = daemon_control.ensure_running(cfg, timeout=timeout)
    wait_until(socket_path.exists, timeout, 0.05, "the devbox service's socket")
    return pid
