"""The devbox service's API server: aiohttp on a unix socket (0660, group ``devbox``), the
caller named by the socket's peer credentials, every route of :mod:`devbox.api.routes`.
Quick reads are answered from the service's threads; long work runs as jobs
(:mod:`devbox.api.jobs`) whose events stream back as newline-delimited JSON. A client that
goes away cancels its job (the job rolls back); every change lands in the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devbox import __version__
from devbox.adapters.host import accounts
from devbox.api import connect_relay, jobs, p4_identity, protocol, replies, transfer
from devbox.api.routes import OPERATIONS, ROUTES, Route
from devbox.config import Config
from devbox.errors import DevboxError, ExitCode
from devbox.model.owners import Caller
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.state import audit_log

_STATUS = protocol.HTTP_STATUS
ANSWER_MAX = 4096  # characters of an answer to a job's prompt (a password)
JOB_GRACE = 120.0  # seconds a stopping service waits for running jobs to roll back


class Service:
    def __init__(self, cfg: Config, log: OpLog) -> None:
        self.cfg = cfg
        self.log = log
        self.layout = Layout(cfg.root)
        self.path = protocol.socket_path(cfg.root, str(cfg["service.socket"]))
        self.group = str(cfg["service.group"])
        self.admin_group = str(cfg["service.admin_group"])
        self.jobs: dict[str, jobs.Job] = {}
        self._environ = {k: v for k, v in cfg.environ.items() if isinstance(v, str)}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._inode = 0

    # ---- the app ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=8 * 1024 * 1024)
        for route in ROUTES:
            app.router.add_route(route.method, protocol.PREFIX + route.path, self._handler(route))
        transfer.add_routes(app, self.cfg)  # move's streamed files (not jobs)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        sent = request.headers.get(protocol.VERSION_HEADER)
        if sent is not None and sent != str(protocol.API_VERSION):
            return self._version_refusal(f"v{sent}")
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is None:
            return replies.error(403, "no peer credentials on this connection", exit=3)
        _pid, uid, gid = accounts.peer_ids(sock)
        caller = accounts.caller(uid, gid, self.admin_group)
        if uid != 0 and self.group not in caller.groups and not caller.admin:
            return replies.error(
                403,
                f"{caller.user} is not in group {self.group}",
                hint=f"ask the host's admin: usermod -aG {self.group} {caller.user}",
                exit=3,
            )
        request["caller"] = caller
        request["settings"] = None
        header = request.headers.get(protocol.SETTINGS_HEADER)
        if header is not None:
            if uid != 0:
                return replies.error(403, "only root's devbox may send its own settings", exit=3)
            try:
                request["settings"] = protocol.decode_settings(header)
            except ValueError as err:
                return replies.error(400, str(err))
        return await handler(request)

    def _version_refusal(self, asked: str) -> web.Response:
        return replies.error(
            400,
            f"this devbox service speaks API v{protocol.API_VERSION}, the client asked for {asked}",
            hint=f"use the devbox client of the service's version ({__version__})",
        )

    async def _unknown(self, request: web.Request) -> web.Response:
        first = request.path.strip("/").split("/", 1)[0]
        if first.startswith("v") and first[1:].isdigit() and first != f"v{protocol.API_VERSION}":
            return self._version_refusal(first)
        return replies.error(404, f"no such endpoint: {request.method} {request.path}")

    def _handler(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            caller: Caller = request["caller"]
            path_args = dict(request.match_info)
            if route.op == "version":
                return web.json_response({"api": protocol.API_VERSION, "version": __version__})
            if route.op == "cancel":
                return self._cancel(caller, path_args["job"])
            if route.op == "connect":
                return await connect_relay.handle(request, self.cfg, caller, path_args["name"])
            body = await self._body(request)
            if isinstance(body, web.Response):
                return body
            if route.op == "answer":
                return await self._answer(caller, path_args["job"], body)
            if route.run == "quick" and self._own_settings(request["settings"]):
                return await self._quick(route, caller, body, path_args)
            refused = self._over_job_limit(caller)
            if refused is not None:
                return refused
            if route.run == "quick":  # root's other settings: in a job, its environment too
                return await self._collected(request, route, caller, body, path_args)
            return await self._job(request, route, caller, body, path_args)

        return handle

    def _own_settings(self, settings: tuple[dict[str, str], dict[str, Any]] | None) -> bool:
        """Whether a request has the service's own settings: none (a user), or root's equal to
        the service's, no flags (its CLI started it): a quick read is then answered here."""
        if settings is None:
            return True
        environ, overrides = settings
        return not overrides and environ == protocol.forwarded_environ(self._environ)

    def _over_job_limit(self, caller: Caller) -> web.Response | None:
        """A refusal when ``caller`` has ``service.jobs_per_user`` jobs (processes) running."""
        limit = int(self.cfg["service.jobs_per_user"])
        if caller.uid == 0 or limit <= 0:
            return None
        running = sum(1 for j in self.jobs.values() if j.caller.uid == caller.uid and j.alive())
        if running < limit:
            return None
        return replies.error(
            429,
            f"{caller.user} has {running} devbox jobs running, the most one user may have",
            hint="wait for one to end; the host's admin sets the limit (service.jobs_per_user)",
        )

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        body: dict[str, Any] = {k: v for k, v in request.query.items()}
        if request.can_read_body:
            try:
                data = await request.json()
            except ValueError:
                return replies.error(400, "the request body is not JSON")
            if not isinstance(data, dict):
                return replies.error(400, "the request body must be a JSON object")
            body.update(data)
        return body

    # ---- quick requests -------------------------------------------------------------------
    async def _quick(
        self, route: Route, caller: Caller, body: dict[str, Any], path_args: dict[str, str]
    ) -> web.Response:
        from devbox.api import operations

        def call() -> Any:
            req = operations.Request(self.cfg, caller, body, lambda _event: None)
            return OPERATIONS[route.op](req, **path_args)

        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, call)
        except Exception as err:  # noqa: BLE001 - the client gets one line; a bug, the log too
            if not isinstance(err, DevboxError):
                self.log.write(f"api {route.op}: {type(err).__name__}: {err}")
            return replies.refusal(err)
        return web.json_response(data)

    def _cancel(self, caller: Caller, job_id: str) -> web.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return replies.error(404, f"no running job {job_id}")
        if not (caller.admin or caller.uid == job.caller.uid):
            return replies.error(400, f"job {job_id} is {job.caller.user}'s")
        job.cancel()
        return web.json_response({"job": job_id, "cancels": job.cancels})

    async def _answer(self, caller: Caller, job_id: str, body: dict[str, Any]) -> web.Response:
        """The person at the client answers a prompt of their own job (a password: it goes
        down the job's pipe and nowhere else -- not the audit log, not the service log)."""
        job = self.jobs.get(job_id)
        if job is None:
            return replies.error(404, f"no running job {job_id}")
        if caller.uid != job.caller.uid:
            return replies.error(400, f"job {job_id} is {job.caller.user}'s")
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            return replies.error(400, "'text' must be a string")
        if text is not None and len(text) > ANSWER_MAX:
            return replies.error(400, f"an answer is at most {ANSWER_MAX} characters")
        prompt = str(body.get("prompt") or "")
        if prompt not in job.open_prompts:  # only what the job asked, once each
            return replies.error(409, f"job {job_id} is not waiting for an answer to {prompt!r}")
        job.open_prompts.discard(prompt)
        loop = asyncio.get_running_loop()  # a pipe write may block: never on the loop
        await loop.run_in_executor(None, job.answer, prompt, text)
        return web.json_response({"job": job_id})

    # ---- jobs -----------------------------------------------------------------------------
    async def _start(
        self,
        request: web.Request,
        route: Route,
        caller: Caller,
        body: dict[str, Any],
        path_args: dict[str, str],
        target: str,
    ) -> jobs.Job:
        """Start the job; first wait (bounded) for a cancelled job on the same target to
        finish its rollback, so a command run again after a Ctrl-C or a killed client
        meets what the undo left, not a lock it still holds."""
        deadline = time.monotonic() + JOB_GRACE
        # what the job acts on: the path's container, or the one a make names (never a body
        # key another operation takes as it pleases)
        wait_on = path_args.get("name") or (target if route.op == "make" else "")
        while wait_on and time.monotonic() < deadline:
            busy = [  # the caller's own cancelled job on it: nobody waits on another's
                j
                for j in self.jobs.values()
                if j.target == wait_on and j.caller.uid == caller.uid and j.cancels and j.alive()
            ]
            if not busy:
                break
            await asyncio.sleep(0.05)
        environ, overrides = self._environ, {}
        if request["settings"] is not None:
            client_environ, overrides = request["settings"]
            environ = protocol.job_environ(self._environ, client_environ)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None,
            lambda: jobs.start(
                route.op,
                target,
                caller,
                environ,
                overrides,
                str(self.cfg.root),
                body,
                path_args,
            ),
        )

    async def _collected(
        self,
        request: web.Request,
        route: Route,
        caller: Caller,
        body: dict[str, Any],
        path_args: dict[str, str],
    ) -> web.Response:
        """A quick read run as a job (root with its own settings): its result as JSON."""
        job = await self._start(request, route, caller, body, path_args, "")
        self.jobs[job.id] = job
        last: dict[str, Any] = {}

        def keep(event: dict[str, Any]) -> None:
            if event.get("event") in ("result", "error") and not last:
                last.update(event)

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: job.read(keep))
        except asyncio.CancelledError:
            if not last:
                job.cancel()
            raise
        finally:
            self.jobs.pop(job.id, None)
        if last.get("event") == "result":
            return web.json_response(last.get("data"))
        return web.json_response(
            {"error": last}, status=_STATUS.get(int(last.get("exit") or 4), 500)
        )

    async def _job(
        self,
        request: web.Request,
        route: Route,
        caller: Caller,
        body: dict[str, Any],
        path_args: dict[str, str],
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        target = path_args.get("name") or str(body.get("name") or body.get("product") or "")
        job = await self._start(request, route, caller, body, path_args, target)
        self.jobs[job.id] = job
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        last: dict[str, Any] = {}

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "prompt":
                job.open_prompts.add(str(event.get("id") or ""))
            if event.get("event") in ("result", "error"):
                if last:  # the job's first last word is its outcome
                    return
                last.update(event)
            loop.call_soon_threadsafe(queue.put_nowait, event)

        def read() -> None:
            try:
                job.read(on_event)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)
                self._audit(route, caller, target, body, last, time.monotonic() - job.started)
                self.jobs.pop(job.id, None)

        threading.Thread(target=read, name=f"job {job.id}", daemon=True).start()
        response = web.StreamResponse(headers={"Content-Type": protocol.NDJSON})
        try:
            await response.prepare(request)
            await response.write(protocol.encode({"event": "job", "id": job.id}))
            while True:
                event = await queue.get()
                if event is None:
                    break
                await response.write(protocol.encode(event))
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            # the client went away (Ctrl-C'd hard, killed): the job rolls back -- unless it
            # has had its last word already (a client that read the result and closed)
            if not last:
                job.cancel()
            raise
        return response

    def _audit(
        self,
        route: Route,
        caller: Caller,
        target: str,
        body: dict[str, Any],
        last: dict[str, Any],
        seconds: float,
    ) -> None:
        if not route.changes:
            return
        ok = last.get("event") == "result"
        record = {
            "user": caller.user,
            "uid": caller.uid,
            "command": route.op,
            "target": target,
            "args": audit_log.redact(body),
            "result": "ok" if ok else "error",
            "exit": 0 if ok else int(last.get("exit") or ExitCode.FAILED),
            "seconds": round(seconds, 3),
        }
        if not ok:
            record["error"] = str(last.get("message") or "no result")
        try:
            audit_log.append(self.layout, record)
        except OSError as err:
            self.log.write(f"audit log: cannot append: {err}")

    # ---- the socket and the loop ------------------------------------------------------------
    def _bind(self) -> socket.socket:
        """Bind at a temporary name, set mode 0660 and group, then rename into place: the
        socket is never reachable with other permissions."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(temp))
        os.chmod(temp, 0o660)
        gid = accounts.group_id(self.group)
        if gid is not None:
            os.chown(temp, 0, gid)
        else:
            self.log.write(
                f"group {self.group} does not exist: only root can use {self.path} "
                f"(groupadd {self.group})"
            )
        sock.listen(128)
        os.rename(temp, self.path)
        self._inode = os.stat(self.path).st_ino
        sock.setblocking(False)
        return sock

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        sock = self._bind()
        site = web.SockSite(runner, sock)
        await site.start()
        self.log.write(f"API v{protocol.API_VERSION} on {self.path} (group {self.group})")
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            for job in list(self.jobs.values()):
                job.cancel()
            deadline = time.monotonic() + JOB_GRACE
            while self.jobs and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await runner.cleanup()
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:  # not a newer service's
                    self.path.unlink()

    def start(self) -> None:
        """Serve in a thread; returns once the socket is in place (a killed job's tickets go)."""
        p4_identity.sweep(self.cfg)

        def run() -> None:
            try:
                asyncio.run(self._main())
            except BaseException as err:  # noqa: BLE001 - reported to the starter
                self.failed = err
                self.log.write(f"API server stopped: {type(err).__name__}: {err}")
                self.ready.set()

        jobs.warm_up()
        self._thread = threading.Thread(target=run, name="api", daemon=True)
        self._thread.start()
        self.ready.wait(30)
        if self.failed is not None:
            raise self.failed

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(JOB_GRACE + 10)
