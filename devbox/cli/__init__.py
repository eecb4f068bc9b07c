"""The ``devbox`` command: one sub-app per role plus ``common``.

Commands are thin: they read flags, call one service function and render the result.
Heavy libraries (docker, pyroute2, paramiko, rich tables) are imported inside commands.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import typer

from devbox import __version__
from devbox.cli.clickcompat import Command

HELP = """devbox: full-VM-style dev containers on your LAN in seconds.

Each container gets its own interface, MAC and IP on the LAN (or on the built-in lab LAN),
systemd, sshd and /opt from the host. Start with 'devbox common lab up' and 'devbox common doctor'.
"""


def _version(value: bool) -> None:
    if value:
        print(f"devbox {__version__}")
        raise typer.Exit()


def _root_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More output (repeat for more).")
    ] = 0,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Override the 'root' setting (default /opt/containers)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Send the command to that host's devbox service over SSH (a name from "
            "'devbox common hosts list'; also DEVBOX_HOST).",
        ),
    ] = None,
) -> None:
    from devbox.cli import state
    from devbox.cli.ui.console import configure

    configure(verbose=verbose, debug=debug)
    state.set_global_overrides(root, host)


# the role sub-apps: (name, module holding its ``app``, what it is for)
ROLES: tuple[tuple[str, str, str], ...] = (
    (
        "dockeruser",
        "devbox.cli.dockeruser",
        "Make, start, list, clone and remove your dev containers.",
    ),
    (
        "containerauthor",
        "devbox.cli.containerauthor",
        "Build base images and dev images; publish them.",
    ),
    ("registryserver", "devbox.cli.registryserver", "Run the company's private Docker registry."),
    ("common", "devbox.cli.common", "Lab LAN, container networking, host checks, config, daemon."),
)


def build_app(roles: Collection[str] | None = None, top_level: bool = True) -> typer.Typer:
    """The whole command tree; with ``roles``, only those roles' sub-apps (the others' modules
    are not even imported), and the top-level commands only with ``top_level``."""
    import importlib

    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_callback)
    for name, module, purpose in ROLES:
        if roles is not None and name not in roles:
            continue
        sub = importlib.import_module(module).app
        if sub.registered_commands or sub.registered_groups:
            app.add_typer(sub, name=name, help=purpose, short_help=purpose)
    if top_level:
        from devbox.cli.dockeruser import register_top_level

        register_top_level(app)
    return app


# root options that take a value: the word after them is not a command
_VALUE_OPTIONS = frozenset({"--root", "--host"})
_HELP_OPTIONS = frozenset({"-h", "--help"})


def build_command(argv: list[str] | None = None) -> Command:
    """The click command for ``argv``: only the branch of the command tree ``argv`` names is
    built (typer builds every parameter of every command it is given: the whole tree costs
    ~0.15 s of each start-up), and only the command modules of the role it names are
    imported; the whole tree for help, completion or a word it does not know, so those
    messages list everything."""
    import os

    if argv is None or any(k.endswith("_COMPLETE") for k in os.environ):
        return typer.main.get_command(build_app())
    words = _words(argv)
    first = words[0] if words else ""
    if first in {name for name, _, _ in ROLES}:
        app = build_app(roles=(first,), top_level=False)
    else:
        from devbox.cli.dockeruser import TOP_LEVEL

        app = build_app(roles=() if first in TOP_LEVEL else None)
    app = _branch(app, words)
    return typer.main.get_command(app)


def _words(argv: list[str]) -> list[str]:
    """The leading command words of ``argv`` (root options and their values skipped); none
    when a help option comes before the first (``devbox --help ssh`` is the root's help)."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg in _HELP_OPTIONS and not words:
            return []
        elif arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS and not words
        else:
            words.append(arg)
    return words


def _branch(app: typer.Typer, words: list[str]) -> typer.Typer:
    """A copy of ``app`` holding only the command or group ``words[0]`` names (recursively);
    ``app`` itself when there is no word or it names nothing here."""
    import copy

    if not words:
        return app
    word, rest = words[0], words[1:]
    for info in app.registered_commands:
        if info.name == word:
            pruned = copy.copy(app)
            pruned.registered_commands, pruned.registered_groups = [info], []
            return pruned
    for group in app.registered_groups:
        if group.name == word and group.typer_instance is not None:
            pruned, kept = copy.copy(app), copy.copy(group)
            kept.typer_instance = _branch(group.typer_instance, rest)
            pruned.registered_commands, pruned.registered_groups = [], [kept]
            return pruned
    return app
