"""The daemon's reconcile: one pass over devbox's NIC records and Docker's containers
(:func:`devbox.model.leases.plan_reconcile`), and what one Docker event changes.

:class:`Reconciler` holds the leases the daemon owns (one DHCP session and owner lock each).
A pass resumes clone sources a killed freeze left paused (:mod:`devbox.services.pause_guard`),
lets go of what a detach asked for, adopts running containers' leases (a REQUEST for the
persisted lease, no new discovery), re-plumbs restarted ones (or waits for their LAN parent,
logged once), and releases the leases of containers removed while the daemon was down. (After a
host reboot the daemon mounts clones' /opt overlays again first:
:func:`devbox.services.clone_storage.restore_after_reboot`.)

Records it cannot read (:attr:`devbox.state.lease_store.LeaseStore.unreadable`) are never acted on:
the container is left alone (logged once, naming the file) -- not plumbed again from its labels,
its lease not dropped -- until the file is fixed.

Whom it plumbs (issue 11): a container made by devbox (``devbox.role``) only from devbox's own
NIC record in ``<root>/leases/`` (written by make/clone/attach), keyed by container name *and*
container id, with the MAC, parent and VLAN of that record -- never from its labels. A ``docker
commit`` of a devbox container run by hand inherits every devbox label (this root, the source's
MAC and parent) but has another id and no record: it is not adopted (logged once). Only a
container that is *not* devbox-made and carries the ``devbox.net`` labels by hand (an explicit
opt-in, :mod:`devbox.model.labels`) is plumbed from its labels, and never with a MAC that one of
devbox's records holds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed
from devbox.model import labels as L
from devbox.model.leases import Action, ContainerView, NicRecord, NicState, plan_reconcile
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.state import daemon_requests

if TYPE_CHECKING:
    from devbox.adapters.docker.net import ContainerFacts
    from devbox.adapters.net.dhcp import DhcpSession
    from devbox.state.lease_store import LeaseStore


@dataclass
class _Held:
    session: DhcpSession | None
    owner_fd: int
    pid: int
    container: str  # the record's container (a key's prefix is no name: "web.1" is a name)


class Reconciler:
    """One pass at a time (the daemon's one worker thread calls it), never two at once."""

    def __init__(self, cfg: Config, st: LeaseStore, log: OpLog) -> None:
        self.cfg, self.st, self.log = cfg, st, log
        self.held: dict[str, _Held] = {}
        self._refused: set[tuple[str, str]] = set()  # (name, id) logged as not adopted
        # LAN parents the link watcher looks for (replaced whole by each reconcile: the
        # watcher thread only reads it)
        self.parents: frozenset[str] = self._base_parents()
        self._waiting: set[str] = set()  # record keys logged as waiting for their parent
        self._skipped: dict[str, str] = {}  # unreadable record key -> what was logged

    def safe(self, fn: Any) -> None:
        try:
            fn()
        except DevboxError as err:
            self.log.write(f"error: {err.message}" + (f" ({err.hint})" if err.hint else ""))
        except Exception as err:  # noqa: BLE001 - the daemon must keep running
            self.log.write(f"internal error: {type(err).__name__}: {err}")

    def _made_by_a_command(self, name: str) -> bool:
        """Whether a devbox command (make, start, remove, clone) holds ``name``'s lock: it
        plumbs the interface itself, and the daemon adopts the lease afterwards."""
        from devbox import locks

        return locks.is_held(Layout(self.cfg.root).locks, "name", name)

    def _base_parents(self) -> frozenset[str]:
        return frozenset(p for p in (self.cfg.text("lab.uplink"), self.cfg.text("parent")) if p)

    def _resume_paused(self, only: str | None) -> None:
        from devbox.services import pause_guard

        if only is None:
            pause_guard.resume_all(self.cfg, self.log)
        else:
            pause_guard.resume_abandoned(self.cfg, only, self.log)

    def _unreadable(self, containers: list[ContainerFacts]) -> set[str]:
        """Names of containers with a record this store cannot read (logged once each)."""
        bad = dict(self.st.unreadable)
        for key in [k for k in self._skipped if k not in bad]:
            del self._skipped[key]  # readable (or gone) again: a new fault is logged again
        names = {c.name for c in containers}
        out: set[str] = set()
        for key, why in sorted(bad.items()):
            owner = next(
                (n for n in sorted(names, key=len, reverse=True) if key.startswith(f"{n}.")),
                key.rsplit(".", 1)[0],
            )
            out.add(owner)
            if self._skipped.get(key) == why:
                continue
            self._skipped[key] = why
            path = self.st.path(key)
            self.log.write(
                f"{owner}: left alone: {why}; devbox neither plumbs it again nor "
                f"drops its lease until {path} is fixed or removed (then "
                f"kill -HUP {os.getpid()})"
            )
        return out

    # --- work -----------------------------------------------------------------------------

    def let_go(self, key: str) -> None:
        held = self.held.pop(key, None)
        if held is None:
            return
        if held.session is not None:
            held.session.stop(release=False)
        os.close(held.owner_fd)

    def release_requested(self) -> None:
        """Let go of the leases detaches asked for (:mod:`devbox.state.daemon_requests`):
        one record read each (it must say DETACHING, or be gone), nothing asked of Docker --
        a detach's SIGHUP made a whole reconcile, every record and every container, per
        detach. A record it cannot read is left alone, as a reconcile leaves it."""
        from devbox.jsonfile import CorruptRecord

        for key in daemon_requests.take(Layout(self.cfg.root), daemon_requests.RELEASE):
            if key not in self.held:
                continue
            try:
                rec = self.st.load_key(key)
            except CorruptRecord:
                continue
            if rec is None or rec.state == NicState.DETACHING:
                self.let_go(key)

    def adopt_requested(self) -> None:
        """Take over the leases attaches recorded (:mod:`devbox.state.daemon_requests`): the
        pass of one container each, as its Docker start event makes -- an attach's SIGHUP made
        a whole reconcile per attach (every container's inspect: 50 clones cost the square)."""
        for name in daemon_requests.take(Layout(self.cfg.root), daemon_requests.ADOPT):
            self.safe(lambda n=name: self.reconcile(only=n))

    def _hold(self, key: str) -> int | None:
        fd = self.st.try_owner(key)
        if fd is None:
            self.log.write(f"{key}: lease busy (a devbox command holds it); retry later")
        return fd

    def on_event(self, action: str, name: str, cid: str) -> None:
        from devbox.adapters.docker import net

        if action == "start":
            facts = net.inspect(name)
            if facts is None or not facts.running:
                return
            if facts.labels.get(L.KIND) == "clone" and L.is_networked(
                facts.labels, str(self.cfg.root)
            ):
                from devbox.services import clone_storage

                if clone_storage.ensure_mounted_before_start(self.cfg, name, running=True):
                    self.log.write(f"{name}: mounted its /opt overlay and restarted it")
                    return
            records = [r for r in self.st.for_container(name)]
            mine = L.is_networked(facts.labels, str(self.cfg.root))
            if any(r.container_id == facts.id for r in records) or mine:
                self.reconcile(only=name)
        elif action == "die":
            for rec in self.st.for_container(name):
                if rec.container_id and cid and rec.container_id != cid:
                    continue
                self.let_go(rec.key)
                self.safe(lambda k=rec.key: self.st.update(k, _stopped))
                self.log.write(f"{rec.key}: container stopped; lease kept for its next start")
        elif action == "destroy":
            self.reconcile(only=name)

    def reconcile(self, only: str | None = None) -> None:
        from devbox.adapters.docker import net
        from devbox.adapters.net import netlink
        from devbox.services import nic

        self.safe(lambda: self._resume_paused(only))
        self.safe(self.release_requested)
        if only is None:  # this pass adopts every lease an attach asked about until now
            daemon_requests.take(Layout(self.cfg.root), daemon_requests.ADOPT)
        # one container's pass (a Docker event) reads only its records: reading every record
        # per event grew with the square of the containers removed at once
        records = self.st.all() if only is None else self.st.for_container(only)
        unreadable = set(self.st.unreadable)
        # first (before asking Docker anything): let go of what a detach asked for, so a
        # waiting 'net detach' / 'remove' gets the lease at once
        detaching = {r.key for r in records if r.state == NicState.DETACHING}
        known_keys = {r.key for r in records} | unreadable
        for key, held in list(self.held.items()):
            if only is not None and held.container != only:
                continue
            if key in detaching or key not in known_keys:
                self.let_go(key)
        found = {r.parent for r in records if r.parent}
        self.parents = (self._base_parents() if only is None else self.parents) | found
        if only is not None:
            facts_one = net.inspect(only)
            containers = [facts_one] if facts_one is not None else []
        else:
            containers = net.all_containers()
        # a container with a record devbox cannot read is left alone: not plumbed again from
        # its labels (a fresh store never saw that record), its lease not dropped
        skip = self._unreadable(containers)
        records = [r for r in records if r.container not in skip]
        containers = [c for c in containers if c.name not in skip]
        by_name = {c.name: c for c in containers}
        root = str(self.cfg.root)
        # plumbed from labels: only a hand-labelled container (no devbox role); a devbox-made
        # one only through its own record (name + id), see the module docstring
        views = [
            ContainerView(
                c.name,
                c.id,
                c.running,
                c.pid,
                L.is_networked(c.labels, root) and not c.labels.get(L.ROLE),
            )
            for c in containers
        ]
        self._log_unadopted(records, containers)
        present = {}
        for one in records:
            running = by_name.get(one.container)
            if running is not None and running.running and running.pid == one.pid:
                present[one.key] = nic.interface_matches(one, running.pid)
        recs = {r.key: r for r in records}
        # let go of what was detached meanwhile
        for key, held in list(self.held.items()):
            known = recs.get(key)
            if key in unreadable or held.container in skip:
                continue
            if (only is None or held.container == only) and (
                known is None or known.state == NicState.DETACHING
            ):
                self.let_go(key)
        parent_up: dict[str, bool] = {}

        def parent_ready(rec: NicRecord) -> bool:
            if rec.parent not in parent_up:
                link = netlink.get_link(rec.parent)
                parent_up[rec.parent] = link is not None and link.up
            return parent_up[rec.parent]

        for action, key in plan_reconcile(records, views, present):
            if action == Action.PLUMB:
                self.safe(lambda k=key: self._plumb_labelled(by_name[k]))
                continue
            rec = recs[key]
            ctr = by_name.get(rec.container)
            if action == Action.ADOPT:
                assert ctr is not None
                self.safe(lambda r=rec, c=ctr: self._adopt(r, c))
            elif action == Action.REPLUMB:
                assert ctr is not None
                if not parent_ready(rec):
                    # the kernel took the interface with its parent: the link watcher
                    # re-plumbs the moment the parent is back
                    self.let_go(key)
                    if key not in self._waiting:
                        self._waiting.add(key)
                        self.log.write(
                            f"{key}: waiting for its LAN parent {rec.parent} to come back"
                        )
                    continue
                self._waiting.discard(key)
                self.safe(lambda r=rec, c=ctr: self._replumb(r, c))
            elif action == Action.PAUSE:
                self.let_go(key)
                # as it is now, not the pass's copy
                self.safe(lambda k=key: self.st.update(k, _stopped))
            elif action == Action.CLEANUP:
                self.safe(lambda r=rec: self._cleanup(r))

    def _log_unadopted(self, records: list[NicRecord], containers: list[ContainerFacts]) -> None:
        """Say once per container (name, id) that a devbox-labelled container without a
        record of this root is left alone."""
        root = str(self.cfg.root)
        ids = {(r.container, r.container_id) for r in records}
        for c in containers:
            if not (c.running and c.labels.get(L.ROLE) and L.is_networked(c.labels, root)):
                continue
            if (c.name, c.id) in ids or (c.name, c.id) in self._refused:
                continue
            if any(r.container == c.name and not r.container_id for r in records):
                continue
            if self._made_by_a_command(c.name):
                continue  # a make/clone plumbs it and writes the record
            self._refused.add((c.name, c.id))
            self.log.write(
                f"{c.name}: not adopted: devbox labels but no devbox record of "
                f"container {c.id[:12]} in {root} (a docker commit run by hand?)"
            )

    def _adopt(self, rec: NicRecord, ctr: ContainerFacts) -> None:
        from devbox.services import nic

        held = self.held.get(rec.key)
        if (
            held is not None
            and held.pid == ctr.pid
            and (held.session is None or held.session.alive)
        ):
            return
        self.let_go(rec.key)
        fd = self._hold(rec.key)
        if fd is None:
            return
        session = None
        try:
            fresh = self._still_wanted(rec.key)
            if fresh is None:
                os.close(fd)
                return
            if rec.mode == "dhcp":
                session = nic.new_session(
                    self.cfg, fresh, ctr.pid, on_lease=nic.persist_on_lease(self.st, fresh)
                )
                session.start()
                self.log.write(f"{rec.key}: adopted lease {rec.ip} (pid {ctr.pid})")
        except BaseException:
            os.close(fd)
            raise
        self.held[rec.key] = _Held(session, fd, ctr.pid, ctr.name)

    def _still_wanted(self, key: str) -> NicRecord | None:
        """Under ``key``'s owner lock: its record now, or None when a detach took it since
        this pass read the records (deleted, or DETACHING): holding it from the pass's copy
        would renew a lease nobody wants and write its record back (the next attach then
        waited for the owner lock and failed)."""
        now = self.st.load_key(key)
        return None if now is None or now.state == NicState.DETACHING else now

    def _replumb(self, rec: NicRecord, ctr: ContainerFacts) -> None:
        self.let_go(rec.key)
        self._plumb(rec.spec(), ctr, rec)

    def _plumb_labelled(self, ctr: ContainerFacts) -> None:
        from devbox.services import nic

        if self._made_by_a_command(ctr.name):
            self.log.write(
                f"{ctr.name}: a devbox command is making it; it plumbs the LAN "
                "itself and hands the lease over"
            )
            return

        lab = ctr.labels
        if lab.get(L.ROLE):  # devbox-made: only ever from its own record
            return
        mac = lab.get(L.NET_MAC) or None
        if mac is not None and any(
            r.mac.lower() == mac.lower() and r.container != ctr.name for r in self.st.all()
        ):
            if (ctr.name, ctr.id) not in self._refused:
                self._refused.add((ctr.name, ctr.id))
                self.log.write(
                    f"{ctr.name}: not adopted: its devbox.net.mac {mac} is another container's"
                )
            return
        mode = lab.get(L.NET, "dhcp")
        spec = nic.build_spec(
            self.cfg,
            ctr.name,
            parent=lab.get(L.NET_PARENT) or None,
            vlan=int(lab[L.NET_VLAN]) if lab.get(L.NET_VLAN) else None,
            ifname=lab.get(L.NET_IFNAME) or None,
            mac=lab.get(L.NET_MAC) or None,
            ip=lab.get(L.NET_IP) if mode == "static" else None,
            gateway=lab.get(L.NET_GATEWAY) if mode == "static" else None,
            mtu=int(lab[L.NET_MTU]) if lab.get(L.NET_MTU) else None,
        )
        self._plumb(spec, ctr, None)

    def _plumb(self, spec: Any, ctr: ContainerFacts, previous: NicRecord | None) -> None:
        from devbox.services import nic

        try:
            lock = self.st.container_lock(ctr.name, timeout=0.5)
            lock.__enter__()
        except OperationFailed:
            self.log.write(f"{ctr.name}: busy (a devbox command works on it); retry later")
            return
        try:
            fd = self._hold(spec.key)
            if fd is None:
                return
            try:
                if previous is not None and self._still_wanted(spec.key) is None:
                    os.close(fd)  # detached since the pass read it: not plumbed again
                    return
                t0 = time.monotonic()
                rec, session = nic.plumb(self.cfg, spec, ctr, previous=previous, keep_session=True)
            except BaseException:
                os.close(fd)
                raise
            self.held[spec.key] = _Held(session, fd, ctr.pid, ctr.name)
            self.log.write(
                f"{spec.key}: plumbed {rec.mac} {rec.ip}/{rec.prefixlen} "
                f"in {time.monotonic() - t0:.2f}s (pid {ctr.pid})"
            )
        finally:
            lock.__exit__(None, None, None)

    def _cleanup(self, rec: NicRecord) -> None:
        from devbox.adapters.docker import net
        from devbox.services import nic

        self.let_go(rec.key)
        with self.st.owner(rec.key, timeout=5.0):
            # decided before the owner lock: a command that held it (a restore moving the
            # name to a new container) may have moved the record on meanwhile
            now, current = net.inspect(rec.container), self.st.load_key(rec.key)
            if now is not None and current is not None and current.container_id == now.id:
                return
            if now is None:
                nic.release_offline(self.cfg, rec, self.log)
            # else: a new container took the name (and so the MAC and client id): its lease
            # is the same identity, so only the old record goes
            self.st.delete(rec.key)
        self.log.write(f"{rec.key}: container removed; lease released, record removed")


def _stopped(rec: NicRecord) -> NicRecord | None:
    """A record whose container stopped, for :meth:`LeaseStore.update`: STOPPED, unless a
    detach marked it (DETACHING) or it is STOPPED already (nothing to write)."""
    if rec.state in (NicState.DETACHING, NicState.STOPPED):
        return None
    return rec.move(NicState.STOPPED)
