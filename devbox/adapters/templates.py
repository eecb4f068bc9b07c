"""Templates, through jinja2: a thin wrapper over ``templates/`` and role directories.

Undefined variables are errors (``StrictUndefined``), so a missing setting never renders as an
empty string into a Dockerfile or a repo file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from devbox.errors import UserError
from devbox.resources import templates_dir


@cache
def _environment(search: tuple[str, ...]) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(search)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, context: Mapping[str, Any], search: Sequence[Path] | None = None) -> str:
    """Render template ``name`` found in ``search`` (default: ``templates/``)."""
    import jinja2

    dirs = tuple(str(p) for p in (search if search is not None else [templates_dir()]))
    try:
        template = _environment(dirs).get_template(name)
        return str(template.render(**context))
    except jinja2.TemplateNotFound as err:
        raise UserError(f"template not found: {name} (looked in {', '.join(dirs)})") from err
    except jinja2.UndefinedError as err:
        raise UserError(
            f"template {name}: {err.message}", hint="a value the template needs was not given"
        ) from err
    except jinja2.TemplateSyntaxError as err:
        raise UserError(f"template {err.filename or name}:{err.lineno}: {err.message}") from err


def render_file(path: Path, context: Mapping[str, Any]) -> str:
    """Render one template file by path (for role data files such as yum .repo files)."""
    return render(path.name, context, search=[path.parent])
