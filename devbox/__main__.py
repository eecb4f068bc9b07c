"""Entry point: logging, signals, and the one place that turns exceptions into exit codes."""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from types import FrameType


def _sigterm(signum: int, frame: FrameType | None) -> None:
    # SIGTERM rolls back like Ctrl-C does.
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGTERM interrupts like Ctrl-C (KeyboardInterrupt: the running steps roll back). While
    an undo runs, devbox.steps shields it from both (two are sat through, a third abandons it
    and names what is left)."""
    signal.signal(signal.SIGTERM, _sigterm)


def main(argv: list[str] | None = None) -> int:
    import typer

    from devbox.cli import build_command
    from devbox.cli.clickcompat import exceptions as clickexc
    from devbox.cli.ui.console import ui
    from devbox.errors import DevboxError, ExitCode

    install_signal_handlers()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    command = build_command(args)
    try:
        rc = command.main(args=args, prog_name="devbox", standalone_mode=False)
        return int(rc or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        ui().error("aborted")
        return int(ExitCode.INTERRUPTED)
    except clickexc.NoArgsIsHelpError as exc:
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx is not None else exc.format_message())
        return 0
    except clickexc.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        usage = ctx.get_usage() if ctx is not None else None
        ui().error(exc.format_message(), hint=(f"{usage}; try --help" if usage else None))
        return int(ExitCode.USER)
    except DevboxError as exc:
        if debug:
            traceback.print_exc()
        ui().error(exc.message, exc.hint)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        ui().error("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the one catch-all
        if debug:
            traceback.print_exc()
        ui().error(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a devbox bug; rerun with --debug for the traceback",
        )
        return int(ExitCode.INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
