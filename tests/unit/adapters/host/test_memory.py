"""The service's lean imports, each in a fresh interpreter (they act on ``sys.modules``):
docker without paramiko (importable again after), pyroute2 without its ``__init__`` (run on
the first use of one of its names), and malloc_trim."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from devbox.adapters.host import memory


def fresh(code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a new interpreter; what it prints last, as JSON."""
    import os

    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_docker_is_imported_without_paramiko_which_stays_importable() -> None:
    seen = fresh(
        """
        import json, sys
        from devbox.adapters.host import memory
        done = memory.lean_imports()
        import docker, docker.transport
        after = {
            "done": done,
            "docker": "docker" in sys.modules,
            "ssh_libraries": sorted(
                n for n in ("paramiko", "cryptography", "nacl", "bcrypt", "invoke")
                if sys.modules.get(n) is not None
            ),
            "ssh_transport": hasattr(docker.transport, "SSHHTTPAdapter"),
            "unix_transport": hasattr(docker.transport, "UnixHTTPAdapter"),
        }
        import paramiko  # later code that needs it still gets it
        after["paramiko_later"] = paramiko.SSHClient.__name__
        print(json.dumps(after))
        """
    )
    assert seen == {
        "done": {"pyroute2": True, "docker": True},
        "docker": True,
        "ssh_libraries": [],
        "ssh_transport": False,
        "unix_transport": True,
        "paramiko_later": "SSHClient",
    }


def test_an_ssh_docker_host_keeps_the_ssh_transport() -> None:
    assert not memory.docker_without_ssh({"DOCKER_HOST": "ssh://builder@example.invalid"})
    seen = fresh(
        """
        import json, sys
        from devbox.adapters.host import memory
        print(json.dumps(memory.docker_without_ssh()))
        """,
        env={"DOCKER_HOST": "ssh://builder@example.invalid"},
    )
    assert seen is False


def test_pyroute2_without_its_init_until_one_of_its_names_is_used() -> None:
    seen = fresh(
        """
        import json, sys
        from devbox.adapters.host import memory
        memory.pyroute2_package_only()
        # what the service imports of pyroute2: the DHCP loop's, the link watch's, netlink's
        import devbox.adapters.net.dhcp, devbox.adapters.net.dhcp_netns
        import devbox.adapters.net.link_watch
        from pyroute2.iproute import IPRoute
        from pyroute2 import netns  # a submodule, through the package
        from pyroute2.dhcp import fsm
        from pyroute2.netlink.rtnl import RTMGRP_LINK
        out = {
            "package_only": memory.package_only("pyroute2"),
            "ndb": "pyroute2.ndb" in sys.modules,
            "sqlite3": "sqlite3" in sys.modules,
            "iwutil": "pyroute2.iwutil" in sys.modules,
            "netns": netns.__name__,
        }
        from pyroute2 import NDB, IPRoute as Whole  # a name of its __init__: it runs now
        import pyroute2
        out.update(
            after=memory.package_only("pyroute2"),
            same_class=Whole is IPRoute,
            ndb_after="pyroute2.ndb" in sys.modules,
            version=pyroute2.__version__,
        )
        try:
            from pyroute2 import NoSuchThing  # noqa: F401
        except ImportError:
            out["missing"] = "ImportError"
        print(json.dumps(out))
        """
    )
    version = seen.pop("version")
    assert version and version != "unknown"
    assert seen == {
        "package_only": True,
        "ndb": False,
        "sqlite3": False,
        "iwutil": False,
        "netns": "pyroute2.netns",
        "after": False,
        "same_class": True,
        "ndb_after": True,
        "missing": "ImportError",
    }


def test_threads_asking_for_a_name_at_once_all_get_it() -> None:
    seen = fresh(
        """
        import json, threading
        from devbox.adapters.host import memory
        memory.pyroute2_package_only()
        import pyroute2
        got, barrier = [], threading.Barrier(4)
        def ask():
            barrier.wait(10)
            got.append(pyroute2.IPRoute.__name__)
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        print(json.dumps(got))
        """
    )
    assert seen == ["IPRoute"] * 4


def test_nothing_is_done_twice_or_over_what_is_imported() -> None:
    seen = fresh(
        """
        import json
        import docker, pyroute2
        from devbox.adapters.host import memory
        print(json.dumps([memory.lean_imports(), memory.package_only("pyroute2")]))
        """
    )
    assert seen == [{"pyroute2": False, "docker": False}, False]


def test_trim_gives_memory_back_on_glibc() -> None:
    assert memory.trim() in (True, False)
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert memory.trim()
