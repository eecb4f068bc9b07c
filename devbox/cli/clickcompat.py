"""typer vendors click (``typer._click``) since 0.2x; older typers use the click package."""

from __future__ import annotations

try:  # typer >= 0.2x
    from typer._click import exceptions
    from typer._click.core import Command
except ImportError:  # pragma: no cover - older typer with click as a dependency
    from click import exceptions  # type: ignore[no-redef]
    from click.core import Command  # type: ignore[no-redef,assignment]

__all__ = ["Command", "exceptions"]
