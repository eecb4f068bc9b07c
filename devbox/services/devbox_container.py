"""The one lookup of a container devbox acts on: it must exist, carry devbox's role label
and (given a config) this root's label; a source a killed clone left paused is resumed."""

from __future__ import annotations

from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import UserError
from devbox.model import labels
from devbox.model.container_plan import require_this_root
from devbox.model.naming import validate_name
from devbox.services import pause_guard


def require(
    name: str,
    cfg: Config | None = None,
    what: str = "container name",
    not_ours: str = "container '{name}' was not made by devbox",
) -> dc.ContainerState:
    """``name``'s container (UserError naming ``what`` for a bad name, ``not_ours`` for a
    container devbox did not make, the other root for one of another root's)."""
    validate_name(name, what)
    st = dc.inspect(name)
    if st is None:
        raise UserError(
            f"no container named '{name}'",
            hint="list them with 'devbox dockeruser list-containers'",
        )
    if st.labels.get(labels.ROLE) is None:
        raise UserError(not_ours.format(name=name))
    if cfg is not None:
        require_this_root(cfg, st.name, st.labels)
        if pause_guard.resume_abandoned(cfg, name):  # a killed clone left it paused
            st = dc.inspect(name) or st
    return st
