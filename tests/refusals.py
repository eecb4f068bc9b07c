"""What a refused command must look like (HACKING.md, devbox.errors): the exit code of devbox's
own error (2 bad input, 3 host not ready, 4 a real system said no), one ``error: ...`` line with
the message, a ``hint: ...`` line, no traceback, and not click/typer's usage error (which also
exits 2, so an exit code alone never proves devbox refused before touching anything)."""

from __future__ import annotations

import subprocess


def assert_refused(
    result: subprocess.CompletedProcess[str], code: int, message: str, hint: str = ""
) -> str:
    """Check ``result`` is devbox's one-line refusal with ``message`` (and ``hint`` in the hint
    line); returns the error line."""
    err = result.stderr
    shown = f"exit {result.returncode}\nstdout: {result.stdout[-1500:]}\nstderr: {err[-1500:]}"
    assert result.returncode == code, shown
    assert "Traceback" not in err, shown
    assert "Usage:" not in err and "Try '" not in err, f"a usage error, not devbox's: {shown}"
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, shown
    assert message in errors[0], shown
    hints = [ln for ln in err.splitlines() if ln.startswith("hint: ")]
    assert len(hints) == 1 and hints[0].strip() != "hint:", f"no hint line: {shown}"
    assert hint in hints[0], shown
    return errors[0]
