"""devbox from a built wheel, without the checkout (issue 16, "Setup without a checkout").

The wheel is built from this tree and installed into a fresh venv under the test's temp dir
with ``pip install --no-index``. Its dependencies come from the test's own venv (a folder of
links to its site-packages, devbox's own entries left out, named by a ``.pth`` file: folders a
``.pth`` names are not site folders, so no editable-install hook of the checkout runs), so
devbox's code, roles and templates can only come from the wheel. Everything runs with the
working folder outside the checkout and no PYTHONPATH: ``devbox --help``, ``devbox common
setup --dry-run`` (as root), and a make-dev-container on the lab LAN whose devbox service is
the one the wheel's CLI starts (the venv's interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.state.daemon_pid import running_pid
from tests.cli import REPO
from tests.fixtures.devcontainers import DevEnv
from tests.fixtures.lab import stop_daemon
from tests.fixtures.service_jobs import stop_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OWN = ("devbox", "_editable_impl_devbox", "__editable__")  # the checkout's install of devbox


@dataclass
class Installed:
    venv: Path
    work: Path  # a working folder outside the checkout

    @property
    def devbox(self) -> Path:
        return self.venv / "bin" / "devbox"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
        env.update(NO_COLOR="1", PATH=f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}")
        env.update(extra)
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.devbox), *args],
            cwd=self.work,
            env=self.env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _check(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, f"{argv}: {done.stderr}{done.stdout}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        cwd=base,
    )  # fmt: skip
    wheel = next(dist.glob("devbox-*.whl"))

    # the dependencies: links to the test venv's packages, devbox's own left out
    deps = base / "deps"
    deps.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if entry.name.startswith(OWN) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)

    venv = base / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = _check([str(venv / "bin" / "python"), "-c", where], cwd=base).stdout.strip()
    (Path(purelib) / "devbox_test_deps.pth").write_text(f"{deps}\n")
    # pip of the test venv, installing into the new one; --no-index: the dependencies must
    # be found installed (through the .pth), nothing is fetched
    _check(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-index", "-q", "--disable-pip-version-check", str(wheel)],
        cwd=base,
    )  # fmt: skip
    work = base / "work"
    work.mkdir()
    return Installed(venv=venv, work=work)


def test_the_wheel_brings_its_code_roles_and_templates(installed: Installed) -> None:
    code = (
        "import devbox, devbox.resources as r; "
        "print(devbox.__file__); print(r.data_dir()); "
        "print((r.role_dir('dockeruser') / 'licenses.toml').is_file()); "
        "print((r.templates_dir() / 'devbox-daemon.service.j2').is_file())"
    )
    done = _check([str(installed.python), "-c", code], cwd=installed.work, env=installed.env())
    module, data, licenses, template = done.stdout.split()
    assert Path(module).is_relative_to(installed.venv), module
    assert Path(data).is_relative_to(installed.venv) and Path(data).name == "_data", data
    assert licenses == template == "True"
    assert not Path(module).is_relative_to(REPO)


def test_devbox_help_runs_from_the_wheel(installed: Installed) -> None:
    done = installed.run("--help")
    assert done.returncode == 0, done.stderr
    for role in ("dockeruser", "containerauthor", "registryserver", "common"):
        assert role in done.stdout
    sub = installed.run("common", "--help")
    assert sub.returncode == 0 and "setup" in sub.stdout, sub.stderr
    p4 = installed.run("dockeruser", "p4", "setup", "--help")
    assert p4.returncode == 0 and "--port" in p4.stdout, p4.stderr


def test_setup_dry_run_lists_the_plan_and_does_nothing(
    installed: Installed, tmp_path: Path
) -> None:
    units = tmp_path / "units"
    root = tmp_path / "root"
    done = installed.run(
        "common",
        "setup",
        "--dry-run",
        "--json",
        "--unit-dir",
        str(units),
        env={"DEVBOX_ROOT": str(root)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["dry_run"] is True and out["changed"] is False
    steps = {s["step"]: s for s in out["steps"]}
    assert list(steps) == ["Debian packages", "dockerd", "sysctl", "groups", "service unit"]
    # dockerd answers here: it is never started again; the unit dir is empty: it would write
    assert steps["dockerd"]["todo"] == [] and steps["dockerd"]["done"]
    assert steps["service unit"]["todo"] == [
        f"write {units / 'devbox-daemon.service'} (devbox common daemon --install)"
    ]
    assert not units.exists() and not root.exists()  # nothing made, not even a log
    text = installed.run(
        "common", "setup", "--dry-run", "--unit-dir", str(units), env={"DEVBOX_ROOT": str(root)}
    )
    assert text.returncode == 0, text.stderr
    assert "service unit: would write" in text.stdout and not units.exists()


@pytest.fixture
def wheel_service(devenv: DevEnv) -> Iterator[DevEnv]:
    """The lab root with no devbox service running (the wheel's CLI starts its own); the one
    it started is stopped at teardown (before devenv removes what is left)."""
    stop_daemon(devenv.lab)
    try:
        yield devenv
    finally:
        stop_service(devenv.root)


def test_make_dev_container_with_the_wheel(installed: Installed, wheel_service: DevEnv) -> None:
    dev = wheel_service
    name = dev.name("whl")
    made = installed.run(
        "dockeruser", "make-dev-container", name, "--branch", "main", "--json", env=dev.env
    )
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["ip"].startswith(dev.lab.prefix), summary
    # the service that made it is the wheel's: the venv's interpreter
    pid = running_pid(dev.cfg())
    assert pid is not None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert Path(argv[0].decode()).is_relative_to(installed.venv), argv
    listed = installed.run("dockeruser", "list-containers", "--json", env=dev.env)
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout
    removed = installed.run(
        "dockeruser", "remove-dev-container", name, "--purge", "--yes", env=dev.env
    )
    assert removed.returncode == 0, removed.stderr


def test_setup_from_the_wheel_writes_the_unit_once(installed: Installed, tmp_path: Path) -> None:
    """The real (not dry) run, on a host whose packages, engine and sysctls are in place (the
    test host: scripts/install-deps.sh set it up) and with the groups set to ones that exist:
    only the unit is left to do, into a unit dir of the test's; a second run does nothing."""
    units = tmp_path / "units"
    env = {
        "DEVBOX_ROOT": str(tmp_path / "root"),
        "DEVBOX_SERVICE_GROUP": "root",
        "DEVBOX_SERVICE_ADMIN_GROUP": "root",
    }
    dry = installed.run("common", "setup", "--dry-run", "--json", "--unit-dir", str(units), env=env)
    assert dry.returncode == 0, dry.stderr
    todo = [s["step"] for s in json.loads(dry.stdout)["steps"] if s["todo"]]
    if todo != ["service unit"]:  # never install packages or start an engine from a test
        pytest.fail(f"this host is not set up (run scripts/install-deps.sh): it plans {todo}")
    done = installed.run("common", "setup", "--unit-dir", str(units), env=env)
    assert done.returncode == 0, done.stderr
    assert "[5/5] service unit" in done.stderr and "skipped: every package installed" in done.stderr
    unit = units / "devbox-daemon.service"
    exec_start = next(ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={installed.devbox} --root {tmp_path / 'root'} ")
    before = unit.stat().st_mtime_ns
    again = installed.run("common", "setup", "--unit-dir", str(units), env=env)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr and "[1/5]" not in again.stderr
    assert unit.stat().st_mtime_ns == before


def test_setup_is_for_root_only() -> None:
    # an interpreter nobody may run (pyenv under /root is not): the system's, with this venv
    real = Path(os.path.realpath(sys.executable))
    python, env = [sys.executable], {"PATH": "/usr/bin:/bin", "HOME": "/", "NO_COLOR": "1"}
    if not all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
        site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
        python, env["PYTHONPATH"] = ["/usr/bin/python3"], ":".join([str(REPO), *site])
    done = subprocess.run(
        [*python, "-m", "devbox", "common", "setup", "--dry-run"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        user=65534,
        group=65534,
        extra_groups=[],
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "run it as root" in done.stderr, done.stderr
