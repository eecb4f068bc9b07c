"""``devbox dockeruser checkout`` as one logged step (a job of the service): check out or
update a container's branch in its /opt, as the checkout's owner (devbox.services.checkout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devbox.config import Config
from devbox.errors import UserError
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.checkout import CheckoutResult, checkout, read_state
from devbox.steps import Reporter


def checkout_command(
    cfg: Config,
    name: str,
    branch: str | None,
    update: bool,
    password: Callable[[], str] | None,
    reporter: Reporter | None,
) -> dict[str, Any]:
    """``devbox dockeruser checkout``: one logged step; the result and whether the branch
    was checked out already (``had``)."""
    from devbox.steps import Step, StepContext, run_steps

    validate_name(name)
    layout = Layout(cfg.root)
    wanted = branch or _branch_label(name)
    had = read_state(cfg, name) is not None
    results: list[CheckoutResult] = []
    opt = layout.opt_dir(name)

    def step(ctx: StepContext) -> None:
        # git/P4 work in the container's tree only as its owner (the recorded one, else
        # whoever owns its /opt; root is refused): see checkout()'s docstring
        result = checkout(
            cfg,
            name,
            wanted,
            opt,
            update=update,
            log=ctx.log,
            progress=ctx.progress,
            password=password,
        )
        results.append(result)
        ctx.note = f"{result.vcs} {result.revision}"

    title = f"{'update' if update else 'checkout'} {name}"
    with OpLog(layout.container_log(name)) as log:
        run_steps(
            title, [Step(f"{'update' if update else 'check out'} {wanted}", step)], log, reporter
        )
    return {"result": results[0].to_dict(), "had": had, "branch": wanted}


def _branch_label(name: str) -> str:
    from devbox.adapters.docker import containers as dc
    from devbox.model.labels import BRANCH

    st = dc.inspect(name)
    branch = st.labels.get(BRANCH, "") if st is not None else ""
    if not branch:
        raise UserError(
            f"container {name} has no {BRANCH} label", hint="say which branch with --branch"
        )
    return str(branch)
