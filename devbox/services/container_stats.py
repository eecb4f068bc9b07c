"""``devbox dockeruser stats``: CPU %, memory used and limit, PIDs, network bytes and /opt
size of devbox containers, like ``docker stats`` for this root's containers only.

The figures are the kernel's: the engine's one-shot stats of each container's cgroups (two
samples a second apart, for CPU %), and ``/proc/PID/net/dev`` of its network namespace on the
host (the LAN interface is devbox's, so the engine has no network figures). /opt is measured
with the one walker (never follows a link). Nothing is read from a container's tree. Each
container takes about a second (the engine's sampling), so they are asked in parallel threads,
at most ``WORKERS`` at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import stats as engine_stats
from devbox.adapters.host import diskusage, netdev
from devbox.config import Config
from devbox.model import labels, owners
from devbox.model import stats as model
from devbox.model.container_plan import same_root
from devbox.paths import Layout
from devbox.services import devbox_container
from devbox.state import migrate

WORKERS = 8


def targets(cfg: Config, names: list[str]) -> list[dc.ContainerState]:
    """The containers asked for: ``names`` (each must be a devbox container of this root:
    UserError, exit 2, otherwise), or every running one of this root, by name."""
    if names:
        return [devbox_container.require(name, cfg) for name in dict.fromkeys(names)]
    found = dc.list_labeled(labels.ROLE, all_states=False)
    return sorted(
        (st for st in found if same_root(st.labels.get(labels.ROOT, ""), cfg.root)),
        key=lambda st: st.name,
    )


def _row(layout: Layout, st: dc.ContainerState, with_size: bool) -> model.StatsRow:
    usage = model.Usage()
    if st.running:
        raw = engine_stats.one_shot(st.id)
        if raw is not None:
            usage = model.from_engine(raw)
        text = netdev.net_dev_text(st.pid)
        usage = model.with_net(usage, model.net_dev(text) if text is not None else None)
    opt_bytes = None
    if with_size:
        opt = migrate.record_dir(layout, st.name) / "opt"
        opt_bytes = diskusage.disk_usage(opt, one_filesystem=False) if opt.is_dir() else None
    owner, owner_uid = owners.owner_of(st.labels)
    return model.StatsRow(
        name=st.name,
        owner=owner,
        owner_uid=owner_uid,
        branch=st.labels.get(labels.BRANCH, "") or st.labels.get(labels.PRODUCT, ""),
        kind=st.labels.get(labels.KIND, "dev"),
        state=st.status,
        usage=usage,
        opt_bytes=opt_bytes,
    )


def stats(cfg: Config, names: list[str], with_size: bool = True) -> list[model.StatsRow]:
    """One row per container of :func:`targets`, in their order; a stopped one has no
    figures, only its /opt size."""
    chosen = targets(cfg, names)
    if not chosen:
        return []
    layout = Layout(cfg.root)
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(chosen))) as pool:
        return list(pool.map(lambda st: _row(layout, st, with_size), chosen))
