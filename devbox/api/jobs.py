"""Long requests run as jobs: each in a child process forked from a forkserver that has
devbox's services imported already (a fork costs milliseconds, not the ~0.5 s of imports),
so a job is exactly what an in-process command was -- its own main thread, Ctrl-C as
SIGINT (the steps roll back; two more are sat through; a third abandons the undo), a crash
that takes only itself down. Its events come back over a pipe, one message each."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devbox.api import protocol
from devbox.errors import OperationFailed
from devbox.model.owners import Caller

# imported once by the forkserver, so a job (a fork of it) starts with them: the services a
# job calls and what they import lazily (docker, pyroute2, paramiko: ~0.5 s a job otherwise)
PRELOAD = [
    "devbox.api.operations",
    "devbox.api.user_operations",
    "devbox.api.admin_operations",
    "devbox.api.job_child",
    "devbox.api.routes",
    "devbox.api.p4_identity",
    "devbox.services.container_make",
    "devbox.services.container_lifecycle",
    "devbox.services.clone",
    "devbox.services.checkout_job",
    "devbox.services.combos",
    "devbox.services.runon",
    "devbox.services.network",
    "devbox.services.images",
    "devbox.services.tenancy",
    "devbox.services.p4_setup",
    "devbox.adapters.docker.layers",
    "devbox.adapters.host.cgroupfs",
    "devbox.adapters.host.sshconfig",
    "devbox.adapters.net.container_link",
    "devbox.adapters.docker.containers",
    "devbox.adapters.docker.engine",
    "devbox.adapters.net.netlink",
    "devbox.adapters.net.dhcp",
    "devbox.adapters.ssh",
    "docker",
    "pyroute2",
    "paramiko",
]

_context: Any = None
_context_lock = threading.Lock()


def context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


@dataclass
class Job:
    id: str
    op: str
    target: str
    caller: Caller
    process: Any
    events: multiprocessing.connection.Connection
    answers: multiprocessing.connection.Connection | None = None  # to the child's prompts
    started: float = field(default_factory=time.monotonic)
    cancels: int = 0
    open_prompts: set[str] = field(default_factory=set)  # prompts the job waits on

    def cancel(self) -> None:
        """The job's own Ctrl-C: SIGINT to the child (it rolls back and reports)."""
        self.cancels += 1
        pid = self.process.pid
        if pid and self.process.is_alive():
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def answer(self, prompt: str, text: str | None) -> None:
        """The caller's answer to the job's prompt ``prompt`` (None: no answer to give)."""
        if self.answers is None:
            return
        try:
            self.answers.send_bytes(protocol.encode({"prompt": prompt, "text": text}))
        except OSError:  # the job has ended
            pass

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def read(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        """Hand every event to ``on_event`` until the child closes the pipe; then wait for
        it. A child that died without a last word gets one: an error naming its exit."""
        last: dict[str, Any] | None = None
        while True:
            try:
                raw = self.events.recv_bytes()
            except (EOFError, OSError):
                break
            event = protocol.json_loads(raw)
            if event.get("event") in ("result", "error"):
                last = event
            on_event(event)
        self.events.close()
        self.process.join()
        if last is None:
            died = OperationFailed(
                f"the job {self.op} {self.target} ended without a result "
                f"(exit {self.process.exitcode})",
                hint="see <root>/logs/daemon.log; the next command converges",
            )
            on_event(protocol.error_event(died))


def start(
    op: str,
    target: str,
    caller: Caller,
    environ: dict[str, str],
    overrides: dict[str, Any],
    root: str,
    body: dict[str, Any],
    path_args: dict[str, str],
) -> Job:
    """Start ``op`` in a child with ``environ`` as its whole environment and the settings
    ``overrides`` (root's flags) over it; ``root`` is the service's, whatever they say."""
    ctx = context()
    reader, writer = ctx.Pipe(duplex=False)
    answers_in, answers_out = ctx.Pipe(duplex=False)  # the service writes, the child reads
    job_id = secrets.token_hex(8)
    from devbox.api import job_child

    process = ctx.Process(
        target=job_child.main,
        args=(op, caller.to_dict(), environ, overrides, root, body, path_args, writer, answers_in),
        name=f"devbox job {op} {target}",
        daemon=False,
    )
    process.start()
    writer.close()
    answers_in.close()
    return Job(job_id, op, target, caller, process, reader, answers_out)


def warm_up() -> None:
    """Start the forkserver now (it imports devbox's services once), so the first request
    does not pay for it."""
    from multiprocessing import forkserver

    context()
    threading.Thread(target=forkserver.ensure_running, name="forkserver", daemon=True).start()
