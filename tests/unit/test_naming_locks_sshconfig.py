from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from devbox import rolemaps
from devbox.adapters.host import sshconfig
from devbox.errors import UserError
from devbox.locks import name_lock
from devbox.model import naming


@pytest.mark.parametrize("name", ["alice-main", "a", "x1", "a" * 63, "combo-acme-5-2-p1234"])
def test_good_names(name: str) -> None:
    assert naming.validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("Alice", "'A'"),
        ("a b", "' '"),
        ("x;rm -rf /", "';'"),
        ("a" * 70, "70 characters"),
        ("-lead", "starts or ends"),
        ("trail-", "starts or ends"),
        ("", "empty"),
        ("$(id)", "'$'"),
    ],
)
def test_bad_names(name: str, needle: str) -> None:
    with pytest.raises(UserError) as exc:
        naming.validate_name(name)
    assert needle in exc.value.message
    assert "\n" not in exc.value.message


def _hold(lock_dir: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    with name_lock(Path(lock_dir), "alice"):
        ready.set()
        time.sleep(30)


def test_lock_refuses_second_holder_and_dies_with_holder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), ready))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(UserError, match=f"pid {proc.pid}"), name_lock(tmp_path, "alice"):
            pass
        with name_lock(tmp_path, "bob"):
            pass
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    with name_lock(tmp_path, "alice"):
        pass


def _entry(name: str, ip: str) -> sshconfig.HostEntry:
    return sshconfig.HostEntry(name, ip, "dev", Path("/k/id"), Path("/k/known_hosts"))


def test_ssh_config_upsert_replace_remove() -> None:
    text = "Host other\n    User x\n"
    text = sshconfig.upsert(text, _entry("alice", "10.0.0.5"))
    text = sshconfig.upsert(text, _entry("bob", "10.0.0.6"))
    text = sshconfig.upsert(text, _entry("alice", "10.0.0.7"))
    assert text.count("Host alice") == 1 and "10.0.0.7" in text and "10.0.0.5" not in text
    assert "Host other" in text and "Host bob" in text
    text = sshconfig.remove(text, "alice")
    assert "alice" not in text and "Host bob" in text


def test_ssh_include_goes_first_once(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n    ServerAliveInterval 30\n")
    sshconfig.write_entry(tmp_path, _entry("alice", "10.0.0.5"))
    sshconfig.write_entry(tmp_path, _entry("bob", "10.0.0.6"))
    main = (tmp_path / ".ssh" / "config").read_text()
    assert main.startswith(sshconfig.INCLUDE_LINE + "\n")
    assert main.count(sshconfig.INCLUDE_LINE) == 1
    sshconfig.remove_entry(tmp_path, "alice")
    devbox_file = (tmp_path / ".ssh" / "config.d" / "devbox").read_text()
    assert "alice" not in devbox_file and "Host bob" in devbox_file


def test_license_and_seed_maps(tmp_path: Path) -> None:
    lic = tmp_path / "licenses.toml"
    lic.write_text('[[license]]\nbranches = "rel-*"\nfile = "l/a.lic"\ntarget = "/opt/l"\n')
    rule = rolemaps.license_for("rel-5", lic)
    assert rule is not None and rule.file == tmp_path / "l/a.lic" and rule.target == "/opt/l"
    assert rolemaps.license_for("main", lic) is None
    seeds = tmp_path / "seeds.toml"
    seeds.write_text(
        '[[seed]]\nmatch = "dev:rel-*"\nsource = "https://x/s.tgz"\n'
        '[[seed]]\nmatch = "*:*"\nsource = "d"\n'
    )
    first = rolemaps.seed_for("dev", "rel-1", seeds)
    assert first is not None and first.is_url
    other = rolemaps.seed_for("os", "main", seeds)
    assert other is not None and other.source == str(tmp_path / "d")


def test_shipped_maps_parse() -> None:
    rule = rolemaps.license_for("main")
    assert rule is not None and rule.file.exists()
    seed = rolemaps.seed_for("dev", "main")
    assert seed is not None and Path(seed.source).is_dir()


def test_bad_license_target(tmp_path: Path) -> None:
    lic = tmp_path / "licenses.toml"
    lic.write_text('[[license]]\nbranches = "*"\nfile = "a"\ntarget = "relative"\n')
    with pytest.raises(UserError, match="absolute"):
        rolemaps.license_for("x", lic)
