"""``clone SRC --count N --hosts a,b`` / ``--hosts auto``, planned (pure): which hosts, which
clone names go where, which base layers every destination already holds, and what a failure
on one host leaves behind.

The client drives it (it alone holds a connection to every service):

1. every host named (``auto``: this machine and every host of ``hosts list`` that answers)
   says what it has free, the caller's quota there and its container names;
   :func:`devbox.model.placement.spread` shares the clones out; the names are numbered over
   the union of every host's names (one name twice on one LAN is one MAC twice);
2. each other host given clones reserves their names (``POST /clone-imports``: refused, exit
   2, when one is taken there) and says which layers of SRC's image it holds;
3. SRC's service freezes SRC once and spools the snapshot image (without the layers every
   destination holds: :func:`common_layers`) and one tar of the /opt snapshot;
4. at once: this host's share is cloned from that same snapshot, and for each other host the
   two files stream through the client into its spool (once per host, whatever its share)
   and one job there loads them and makes its clones;
5. the export spool is dropped (the snapshot stays while a clone uses it).

A failure on one host (its transfer, or its job) is undone there by its own job or by
dropping its import; the clones the other hosts made stay, as a clone that fails is rolled
back while the others stay: the CLI names the host, its error and each of its clones as
failed, and exits 4 (:data:`ON_FAILURE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from devbox.errors import UserError

AUTO = "auto"
LOCAL = "local"
ON_FAILURE = (
    "a host that fails keeps nothing of this run (its job rolls back, its spool is "
    "dropped); the other hosts' clones stay and the failed host is named"
)


def parse_hosts(text: str, known: Iterable[str]) -> list[str] | None:
    """The hosts of ``--hosts``: None for ``auto``, else the names given, in order, each
    ``local`` or a known host (exit 2 otherwise, nothing asked yet)."""
    text = text.strip()
    if text == AUTO:
        return None
    names = [n.strip() for n in text.split(",")]
    known_set = {LOCAL, *known}
    if not text or any(not n for n in names):
        raise UserError(
            f"--hosts {text!r}: a comma-separated list of host names, or 'auto'",
            hint="example: --hosts local,h2 (devbox common hosts list)",
        )
    if AUTO in names:
        raise UserError("--hosts auto goes alone", hint="--hosts auto, or --hosts local,h2")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(
            f"--hosts names {', '.join(twice)} more than once", hint="name each host once"
        )
    unknown = [n for n in names if n not in known_set]
    if unknown:
        raise UserError(
            f"--hosts: no host named {', '.join(repr(n) for n in unknown)}",
            hint="devbox common hosts list (or 'local' for this machine)",
        )
    return names


def assign(
    names: Sequence[str], shares: Mapping[str, int], order: Sequence[str]
) -> dict[str, list[str]]:
    """The clone names each host makes: ``shares[host]`` of ``names`` each, the hosts in
    ``order`` (a host with no share is left out)."""
    if sum(shares.values()) != len(names):
        raise ValueError(f"{len(names)} names for {sum(shares.values())} clones")
    out: dict[str, list[str]] = {}
    at = 0
    for host in order:
        n = shares.get(host, 0)
        if n:
            out[host] = list(names[at : at + n])
            at += n
    if at != len(names):
        raise ValueError(f"shares of hosts not in {list(order)}")
    return out


def common_layers(chains: Iterable[Sequence[str]]) -> list[str]:
    """The layer diff ids (from the bottom) every destination holds: the longest common
    prefix of their chains (none when one holds none); what the image file leaves out."""
    chains = [list(c) for c in chains]
    if not chains:
        return []
    out: list[str] = []
    for i, layer in enumerate(chains[0]):
        if all(len(c) > i and c[i] == layer for c in chains[1:]):
            out.append(layer)
        else:
            break
    return out


def union_names(per_host: Mapping[str, Iterable[str]]) -> set[str]:
    """Every container name any host has: new clone names are numbered after them."""
    out: set[str] = set()
    for names in per_host.values():
        out |= set(names)
    return out
