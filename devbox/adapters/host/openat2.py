"""``openat2(2)`` through ctypes (Python has no wrapper): open a path beneath a directory
descriptor with ``RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS``, so the
kernel refuses (``ELOOP``) any symlink on the way and ``/`` and ``..`` stay inside the root.
:func:`available` probes once whether this kernel (and seccomp filter) has it; without it
:class:`devbox.adapters.host.rootfs.RootDir` walks one component at a time.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

LOG = logging.getLogger(__name__)

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10
RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "arm64": 437}.get(platform.machine())


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc: ctypes.CDLL | None = None
_have_openat2: bool | None = None


def _syscall() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def open_beneath(dirfd: int, path: str, flags: int, mode: int = 0) -> int:
    """``openat2(dirfd, path, flags)`` resolving beneath ``dirfd``, links refused; a new fd."""
    assert SYS_OPENAT2 is not None
    how = _OpenHow(flags | os.O_CLOEXEC, mode, RESOLVE)
    fd = _syscall().syscall(
        ctypes.c_long(SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def available() -> bool:
    """Whether this kernel resolves with ``openat2`` (probed once)."""
    global _have_openat2
    if _have_openat2 is None:
        if SYS_OPENAT2 is None:
            _have_openat2 = False
        else:
            try:
                os.close(open_beneath(-100, "/", os.O_PATH | os.O_DIRECTORY))  # AT_FDCWD
                _have_openat2 = True
            except OSError as err:
                LOG.info(
                    "openat2 unavailable (%s): walking paths one component at a time", err.strerror
                )
                _have_openat2 = False
    return _have_openat2
