"""The CLI as a client of the operations (devbox.api.operations): through the devbox
service's socket for users, in this process for root; a job's events shown with the same
rich progress as in-process work had."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from devbox.cli import state

if TYPE_CHECKING:
    from devbox.api.client import Client
    from devbox.config import Config
    from devbox.model.hosts import HostEntry
    from devbox.steps import Reporter

T = TypeVar("T")
HOST_BOUND = 30.0  # seconds one host may take to answer a fleet-wide question
SERVICE_START = 60.0  # seconds a starting service may take to answer (its forkserver imports)
QUICK_TIMEOUT = 120.0  # seconds a quick read may take (a listing sizing many /opt trees)
REPORTER_CALLS = frozenset({"started", "progress", "finished", "failed", "undoing"})
AUTO = "auto"  # --host auto: placement picks the host (make only)


def client() -> Client:
    """How this CLI reaches the operations: through the devbox service's socket, for root
    too. Root's CLI sends its own settings (environment, flags) and starts the service of
    its root when none runs; anyone else gets a one-line error with the fix (exit 3).
    With ``--host NAME`` (``DEVBOX_HOST``): that host's service over SSH, as a caller like
    any other there (root too: this machine's settings are not that host's)."""
    cfg = state.config()
    host = cfg.text("host")
    if host == AUTO:
        from devbox.errors import UserError

        raise UserError(
            "--host auto picks a host for make-dev-container and make-os-container only",
            hint="name the host: --host NAME (devbox common hosts list)",
        )
    if host:
        return host_client(host, cfg.environ)
    return local_client(cfg)


def use_host(name: str) -> None:
    """From here on this command talks to host ``name`` (``local``: this machine), as if
    ``--host NAME`` had been given (placement's choice)."""
    from devbox.model.hosts import LOCAL

    state.set_global_overrides(None, host="" if name == LOCAL else name)


def current_host() -> str:
    """The host this command's service calls go to: a ``[hosts.NAME]`` name, or ``local``."""
    from devbox.model.hosts import LOCAL

    return state.config().text("host") or LOCAL


def local_client(cfg: Config) -> Client:
    """This machine's service (root's CLI: with its settings, started when none runs)."""
    from devbox.api import protocol
    from devbox.api.client import Client

    path = protocol.socket_path(cfg.root, cfg.text("service.socket"))
    group = cfg.text("service.group")
    if os.geteuid() != 0:
        return Client(path, group=group, timeout=QUICK_TIMEOUT)
    settings = protocol.encode_settings(os.environ, state.overrides())
    api = Client(path, group=group, timeout=QUICK_TIMEOUT, settings=settings)
    if not api.answers():
        _start_service(cfg, api)
    return api


def local_root() -> bool:
    """Root on this machine's own service (no ``--host``): its SSH entries use devbox's
    key and known_hosts here; over ``--host`` root is a caller like any other."""
    return os.geteuid() == 0 and not state.config().text("host")


def via_host() -> HostEntry | None:
    """The ``[hosts.NAME]`` entry this command goes to (None: this machine's service)."""
    from devbox.state import host_list

    cfg = state.config()
    host = cfg.text("host")
    return host_list.resolve(host, cfg.environ) if host and host != AUTO else None


def host_client(name: str, environ: Mapping[str, str], timeout: float = QUICK_TIMEOUT) -> Client:
    """The service of host ``name`` (a ``[hosts.NAME]`` entry), through SSH; an unknown
    name is exit 2, an unknown or changed host key exit 3 (nothing sent)."""
    from devbox.api import protocol
    from devbox.api.client import Client
    from devbox.api.client_ssh_transport import transport_for
    from devbox.state import host_list

    entry = host_list.resolve(name, environ)
    transport = transport_for(entry, environ)
    path = Path(entry.socket) if entry.socket else protocol.DEFAULT_SOCKET
    return Client(path, timeout=timeout, transport=transport)


def fleet(hint: str) -> list[str]:
    """The hosts an ``--all-hosts`` command asks: this machine (``local``) and every host of
    ``devbox common hosts list``. It asks each itself, so ``--host`` is refused (exit 2)."""
    from devbox.errors import UserError
    from devbox.model.hosts import LOCAL
    from devbox.state import host_list

    cfg = state.config()
    if cfg.text("host"):
        raise UserError("--all-hosts asks every host: leave out --host (or DEVBOX_HOST)", hint=hint)
    return [LOCAL, *host_list.load(cfg.environ)]


def on_hosts(
    names: list[str], ask: Callable[[Client], T], bound: float = HOST_BOUND
) -> dict[str, tuple[T | None, str | None]]:
    """``ask`` each host's service (``local``: this machine's) in parallel threads, each
    bounded to ``bound`` seconds: name -> (answer, None) or (None, why it did not answer)."""
    import threading

    from devbox.errors import DevboxError
    from devbox.model.hosts import LOCAL
    from devbox.waits import poll

    cfg = state.config()
    lock = threading.Lock()
    out: dict[str, tuple[T | None, str | None]] = {}

    def one(name: str) -> None:
        answer: tuple[T | None, str | None]
        api: Client | None = None
        try:
            api = local_client(cfg) if name == LOCAL else host_client(name, cfg.environ, bound)
            answer = (ask(api), None)
        except DevboxError as err:
            answer = (None, err.message)
        except Exception as err:  # noqa: BLE001 - one host's fault is its row, not the list's
            answer = (None, f"{type(err).__name__}: {err}")
        finally:
            if api is not None:
                api.close()
        with lock:
            out[name] = answer

    for name in names:  # daemon threads: a host that hangs does not hold the exit
        threading.Thread(target=one, args=(name,), name=f"host {name}", daemon=True).start()
    poll(lambda: len(out) == len(names) or None, bound + 5, 0.05)
    with lock:
        return {name: out.get(name, (None, f"no answer within {bound + 5:g}s")) for name in names}


def _start_service(cfg: Config, api: Client) -> None:
    """Root's CLI and no service for its root: start it (detached, as the make always
    did with the daemon) and wait for its socket to answer."""
    from devbox.errors import NotReadyError
    from devbox.services import daemon_control
    from devbox.waits import wait_until

    pid = daemon_control.ensure_running(cfg)
    wait_until(
        lambda: api.answers() or None,
        SERVICE_START,
        0.05,
        "the devbox service's socket",
        error=lambda: NotReadyError(
            f"the devbox service (pid {pid}) does not answer on {api.path}",
            hint=f"see {cfg.root}/logs/daemon.log and daemon.out; stop that PID and run "
            "the command again",
        ),
    )


def ask(event: dict[str, Any]) -> str | None:
    """A job's question for the person here (a Perforce password when no ticket is valid):
    asked at the terminal, the secret ones without echo; None when stdin is no terminal."""
    if not sys.stdin.isatty():
        return None
    text = "".join(ch for ch in str(event.get("text") or "? ") if ch.isprintable())[:200]
    host = state.config().text("host")
    if host:  # another host's service asks: say which
        text = f"[{host}] {text}"
    try:
        if event.get("secret"):
            import getpass

            return getpass.getpass(text)
        return input(text)
    except EOFError:
        return None


def run(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    title: str,
    reporter_for: Callable[[str], Reporter] | None = None,
) -> Any:
    """A job through the service: its progress drawn here, its result returned, its error
    raised (with the service's exit code). Ctrl-C cancels it; its undo is shown as it runs."""
    from devbox.cli.ui.progress import reporter_for as default_reporter

    ui = state.ui()
    reporters: dict[str, Reporter] = {}

    def reporter(stream: str) -> Reporter:
        if stream not in reporters:
            reporters[stream] = (
                reporter_for(stream) if reporter_for else default_reporter(ui, stream or title)
            )
        return reporters[stream]

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "report":
            call = str(event.get("call"))
            if call not in REPORTER_CALLS:  # a service (another host's) names no other method
                return
            getattr(reporter(str(event.get("stream") or "")), call)(*event.get("args", []))
        elif kind == "output":
            sys.stdout.buffer.write(base64.b64decode(event.get("data", "")))
            sys.stdout.flush()
        elif kind == "message":
            (ui.warning if event.get("level") == "warning" else ui.info)(str(event.get("text")))

    def interrupted(job: str) -> None:
        ui.info("devbox: cancelling; the service rolls back what this command made")

    api = client()
    ui.preload()  # rich loads while the service starts the job
    try:
        return api.stream(method, path, body, on_event, on_interrupt=interrupted, on_prompt=ask)
    finally:
        for one in reporters.values():
            one.close()
