"""Render the templated values of the branch map (depot, url, ref, view, sparse) with jinja2.

A sandboxed environment with ``StrictUndefined``: a typo in the map is an error naming the map
entry, never an empty string in a depot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from devbox.errors import UserError


@cache
def _environment() -> Any:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def render_value(text: str, variables: Mapping[str, Any], what: str) -> str:
    """Render one branch-map value; ``what`` names it in errors (``branch 'main': view``)."""
    if "{" not in text:
        return text
    import jinja2

    try:
        return str(_environment().from_string(text).render(**variables))
    except jinja2.UndefinedError as err:
        raise UserError(
            f"{what}: {err.message}",
            hint="branch map templates may use: " + ", ".join(sorted(variables)),
        ) from err
    except jinja2.TemplateError as err:
        raise UserError(f"{what}: bad template {text!r}: {err}") from err
