"""procfs facts of this very process."""

from __future__ import annotations

import os
import signal

from devbox.adapters.host import procfs


def test_catches_says_which_signals_have_a_handler() -> None:
    old = signal.getsignal(signal.SIGUSR2)
    try:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
        assert not procfs.catches(os.getpid(), signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, lambda *_: None)
        assert procfs.catches(os.getpid(), signal.SIGUSR2)
        assert procfs.catches(os.getpid(), signal.SIGINT)  # Python's own KeyboardInterrupt
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_a_process_that_is_gone_catches_nothing() -> None:
    assert not procfs.catches(2**22 + 1, signal.SIGHUP)  # above the kernel's pid_max
