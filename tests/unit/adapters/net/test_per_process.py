from __future__ import annotations

import os


class Thing:
    made = 0

    def __init__(self) -> None:
        Thing.made += 1
        self.broken = False


def test_one_object_per_process_made_again_once_broken_or_forked() -> None:
    from devbox.adapters.net.per_process import PerProcess

    Thing.made = 0
    one = PerProcess(Thing)
    first = one.get()
    assert one.get() is first and Thing.made == 1
    first.broken = True
    second = one.get()
    assert second is not first and Thing.made == 2
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new object of its own, not the parent's
        os.write(write, b"1" if one.get() is not second and Thing.made == 3 else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert one.get() is second
