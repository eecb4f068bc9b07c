"""A long-lived process's memory: what it imports of its libraries, and what malloc gives back.

The devbox service holds every lease of the host for as long as the host runs, so what it
imports stays resident (issue 17: <= 60 MB with 50 leases). A few libraries import much more
than the service uses; :func:`lean_imports` (called once at the service's start-up, before
anything imports either) keeps that out:

- the docker SDK imports paramiko (and with it cryptography, PyNaCl, bcrypt, invoke: ~14 MB)
  only for its ``ssh://`` transport (``docker.transport.sshconn``, in a ``try`` that tolerates
  an ImportError). The service talks to the local engine over its unix socket, so docker is
  imported with paramiko hidden (``sys.modules["paramiko"] = None``, Python's documented way
  to make an import fail), then paramiko is visible again: code that needs it later imports it
  then. Not when ``DOCKER_HOST`` is ``ssh://`` (docker-py would need the transport).
  requests' character detection (``charset_normalizer``, ~3 MB) is hidden the same way: it
  only guesses the encoding of a reply whose headers name none (``Response.text``); the
  engine's replies are JSON (decoded without it), and with no such library requests falls
  back to utf-8 (its documented behaviour; the warning it gives then is silenced here).
- ``pyroute2/__init__.py`` imports every part of pyroute2 (NDB and its sqlite3, IPDB,
  nl80211, ipset, conntrack, ...: ~6 MB) to offer them as ``pyroute2.X``. The service uses a
  few submodules (``pyroute2.iproute``, ``pyroute2.dhcp``, ``pyroute2.netlink``); so the
  package is put in ``sys.modules`` without running its ``__init__``: a submodule imports as
  always, and the first use of a name of that ``__init__`` (``from pyroute2 import NDB``) runs
  it then, once (PEP 562 ``__getattr__``).

:func:`trim` is glibc's ``malloc_trim(0)``: freed heap pages go back to the kernel (after the
start-up's imports and a burst of leases, whose garbage would otherwise stay resident).

Job children never see any of this: they are forks of the forkserver, a process of its own
that imports docker, pyroute2 and paramiko whole (``devbox.api.jobs.PRELOAD``).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import sys
import threading
import warnings
from functools import cache
from types import ModuleType
from typing import Any

# what docker-py imports only for ssh://, and what only that brings in
SSH_LIBRARIES = ("paramiko",)
# requests' guess of a reply's encoding (when its headers name none): only it imports these
CHARSET_LIBRARIES = ("charset_normalizer", "chardet")
# names of pyroute2/__init__.py that mean "the whole package" rather than a submodule
WHOLE_PACKAGE_NAMES = ("__version__", "__all__")


def lean_imports() -> dict[str, bool]:
    """Import docker without its ssh transport, and pyroute2 as a package only (see the
    module's doc); what was done, by name (False: already imported, or not applicable)."""
    return {"pyroute2": pyroute2_package_only(), "docker": docker_without_ssh()}


def docker_without_ssh(environ: dict[str, str] | None = None) -> bool:
    """Import the docker SDK with paramiko hidden from it; paramiko stays importable after.
    False when docker (or paramiko) is imported already, or ``DOCKER_HOST`` is ``ssh://``."""
    env = os.environ if environ is None else environ
    if "docker" in sys.modules or any(name in sys.modules for name in SSH_LIBRARIES):
        return False
    if env.get("DOCKER_HOST", "").startswith("ssh://"):
        return False
    hidden = [*SSH_LIBRARIES]
    if "requests" not in sys.modules:
        hidden += [name for name in CHARSET_LIBRARIES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import paramiko` fails
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unable to find acceptable character detection")
            import docker  # noqa: F401 - imported now, without its ssh transport
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return True


def pyroute2_package_only() -> bool:
    """Put pyroute2 in ``sys.modules`` without running its ``__init__`` (which imports all of
    pyroute2); the first use of one of its names runs it. False when pyroute2 is imported
    already or not installed."""
    if "pyroute2" in sys.modules:
        return False
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    package = importlib.util.module_from_spec(spec)  # __path__, __spec__: not executed
    package.__getattr__ = _on_first_name(package, spec.loader)  # type: ignore[method-assign]
    sys.modules["pyroute2"] = package
    return True


def _on_first_name(package: ModuleType, loader: Any) -> Any:
    lock = threading.RLock()
    ran: list[bool] = []

    def __getattr__(name: str) -> Any:  # PEP 562: only for names the package lacks
        dunder = name.startswith("__") and name.endswith("__")
        if dunder and name not in WHOLE_PACKAGE_NAMES:
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")
        if not dunder:
            try:  # a submodule (``from pyroute2 import netns``): imported as always
                return importlib.import_module(f"{package.__name__}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package.__name__}.{name}":
                    raise
        with lock:  # a name of pyroute2/__init__.py: run it now, once (other threads wait)
            if not ran:
                ran.append(True)
                loader.exec_module(package)
                package.__dict__.pop("__getattr__", None)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}") from None

    return __getattr__


def package_only(name: str) -> bool:
    """Whether package ``name`` is in this process without its ``__init__`` having run."""
    module = sys.modules.get(name)
    return module is not None and "__getattr__" in module.__dict__ and _is_ours(module)


def _is_ours(module: ModuleType) -> bool:
    hook = module.__dict__.get("__getattr__")
    return getattr(hook, "__qualname__", "").startswith("_on_first_name")


def trim() -> bool:
    """glibc's ``malloc_trim(0)``: give freed heap memory back to the kernel. False where
    there is no such function (not glibc)."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


@cache
def _malloc_trim() -> Any:
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn
