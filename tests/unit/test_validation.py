"""Settings and names are validated with a FULL match: ``re.match(r"...$")`` lets a trailing
newline through, and a setting that reaches a rendered file (dnsmasq.conf, a systemd unit, a
Perforce client spec) would then smuggle a line of its own into it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError

INJECT = "\nserver=8.8.8.8"


def _load(**env: str) -> config.Config:
    return config.load(environ=env, files=())


# -- settings ------------------------------------------------------------------------------


def test_every_default_passes_its_own_kind() -> None:
    for setting in config.SETTINGS:
        config.PARSERS[setting.kind](setting.default)


@pytest.mark.parametrize(
    "value",
    [
        "lab" + INJECT,
        "lab\n",
        "lab\r",
        "lab\x00x",
        "la b",
        "-lab",
        "lab-",
        "a..b",
        "x" * 64,
        "lab/evil",
        "",
    ],
)
def test_lab_domain_rejects_what_is_not_a_domain(value: str) -> None:
    with pytest.raises(UserError) as exc:
        _load(DEVBOX_LAB_DOMAIN=value)
    assert "DEVBOX_LAB_DOMAIN" in exc.value.message and "lab.domain" in exc.value.message
    assert "\n" not in exc.value.message and "\n" not in (exc.value.hint or "")


@pytest.mark.parametrize("value", ["lab", "Lab.Example.com", "x-1.corp", "a" * 63])
def test_lab_domain_accepts_domains(value: str) -> None:
    assert _load(DEVBOX_LAB_DOMAIN=value)["lab.domain"] == value


def _string_settings() -> list[config.Setting]:
    return [s for s in config.SETTINGS if s.kind not in {"bool", "int", "float"}]


@pytest.mark.parametrize("setting", _string_settings(), ids=lambda s: s.name)
@pytest.mark.parametrize("tail", ["\n", "\r", "\nx=1", "\t", "\x1b[2J", "\x7f"])
def test_no_setting_takes_control_characters(setting: config.Setting, tail: str) -> None:
    base = str(setting.default) or {
        "parent": "eth9",
        "shim_address": "192.168.1.250/24",
        "registry.address": "reg:5000",
    }.get(setting.name, "x")
    with pytest.raises(UserError, match=setting.env):
        _load(**{setting.env: base + tail})


def test_control_characters_refused_in_files_and_flags_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[p4]\noptions = "allwrite\\nRoot: /"\n')
    with pytest.raises(UserError, match=r"p4\.options"):
        config.load(environ={}, files=(path,))
    with pytest.raises(UserError, match=r"lab\.name"):
        _load().with_overrides({"lab.name": "lab\n"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lab.name", "my lab"),
        ("lab.name", "a/b"),
        ("lab.name", ".."),
        ("lab.uplink", "way-too-long-ifname"),
        ("lab.uplink", "a b"),
        ("ifname", "a/b"),
        ("parent", "eth0:1 x"),
        ("shim_address", "192.168.1.250"),
        ("shim_address", "nope/24"),
        ("registry.address", "reg"),
        ("registry.address", "reg:99999"),
        ("registry.address", "reg:5000/x"),
        ("registry.name", "-reg"),
        ("registry.name", "r eg"),
        ("registry.network", "net/x"),
        ("image", "dev image"),
        ("mirror.debian", "ftp://x"),
        ("mirror.debian", "http://a b"),
        ("mirror.rocky", "not a url"),
        ("lab.dnsmasq", "dnsmasq --conf-file=/tmp/x"),
        ("p4.client_prefix", "a b"),
    ],
)
def test_format_checked_where_a_setting_becomes_a_name(name: str, value: str) -> None:
    with pytest.raises(UserError, match=name.replace(".", r"\.")):
        _load(**{config.BY_NAME[name].env: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lab.name", "dbxt12ab-lab"),
        ("lab.uplink", "dbx-lab0"),
        ("parent", ""),
        ("parent", "enp3s0.100"),
        ("shim_address", ""),
        ("shim_address", "192.168.1.250/24"),
        ("registry.address", ""),
        ("registry.address", "172.17.0.1:5443"),
        ("registry.address", "[::1]:5000"),
        ("registry.address", "reg.example.com:443"),
        ("registry.name", "dbxt1-reg-x_y.z"),
        ("registry.network", ""),
        ("image", "dev"),
        ("image", "reg:5000/devbox/dev:1.2"),
        ("mirror.debian", "http://10.0.0.1/debian"),
        ("mirror.centos", "https://vault.centos.org"),
        ("mirror.debian", "file:///srv/mirror"),
        ("lab.dnsmasq", "/usr/sbin/dnsmasq"),
        ("p4.options", "allwrite clobber"),
        ("labels", "team=a,cost=b"),
        ("registry.image", ""),
    ],
)
def test_good_values_still_pass(name: str, value: str) -> None:
    assert str(_load(**{config.BY_NAME[name].env: value})[name]) == value


def test_cli_exit_2_with_one_line_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "HOME": str(tmp_path),
        "DEVBOX_ROOT": str(tmp_path / "root"),
        "DEVBOX_LAB_DOMAIN": "lab" + INJECT,
    }
    res = subprocess.run(
        [sys.executable, "-m", "devbox", "common", "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if "DEVBOX_LAB_DOMAIN" in line]
    assert len(errors) == 1 and "8.8.8.8" not in res.stderr.replace(errors[0], ""), res.stderr


def test_lab_plan_never_renders_an_injected_line(tmp_path: Path) -> None:
    from devbox.adapters import templates
    from devbox.model import lab_plan

    cfg = _load(DEVBOX_ROOT=str(tmp_path))
    text = templates.render("dnsmasq.conf.j2", lab_plan.plan(cfg).template_context())
    assert "server=" not in text
    with pytest.raises(UserError):
        _load(DEVBOX_ROOT=str(tmp_path), DEVBOX_LAB_NAME="lab" + INJECT)


# -- names ---------------------------------------------------------------------------------


def test_container_names_full_match() -> None:
    from devbox.model.naming import validate_name

    assert validate_name("web-1") == "web-1"
    for bad in ("web1\n", "web1\r", "web\n1", "\nweb1"):
        with pytest.raises(UserError):
            validate_name(bad)


def test_registry_user_names_full_match() -> None:
    from devbox.model import registry_plan as plan

    assert plan.validate_user("alice") == "alice"
    with pytest.raises(UserError):
        plan.validate_user("alice\n")
    with pytest.raises(UserError):
        plan.with_user("", "alice\n", "$2y$04$x")


def test_base_and_image_names_full_match() -> None:
    from devbox.model import bootstrap_plan

    assert bootstrap_plan.validate_name("debian-12") == "debian-12"
    with pytest.raises(UserError):
        bootstrap_plan.validate_name("debian-12\n", "base name")
    with pytest.raises(UserError):
        bootstrap_plan.validate_name("dev\n", "image name")


def test_image_fields_full_match() -> None:
    import dataclasses

    from devbox.model import image_plan

    with pytest.raises(UserError, match="user"):
        image_plan.parse_image("dev", 'base = "debian-12"\nuser = "dev\\n"\n')
    img = image_plan.parse_image("dev", 'base = "debian-12"\n')
    image_plan.dockerfile_context(img, "devbox/base/debian-12:latest", "debian", False)
    for field, value in (
        ("timezone", "Etc/UTC\n"),
        ("locale", "C.UTF-8\n"),
        ("stop_signal", "SIGTERM\n"),
    ):
        bad = dataclasses.replace(img, **{field: value})
        with pytest.raises(UserError, match=field):
            image_plan.dockerfile_context(bad, "devbox/base/debian-12:latest", "debian", False)


def test_product_release_words_full_match() -> None:
    from devbox.model import combo_plan

    assert combo_plan.check_word("rel-5.2", "release") == "rel-5.2"
    for bad in ("rel\n", "prod\n"):
        with pytest.raises(UserError):
            combo_plan.check_word(bad, "release")


def test_branch_names_and_refs_full_match() -> None:
    from devbox import branches

    for bad in ("main\n", "release/5.2\n"):
        with pytest.raises(UserError):
            branches.validate_branch_name(bad)
        with pytest.raises(UserError):
            branches.validate_ref(bad)
    with pytest.raises(UserError):
        branches.validate_rel_path("src\n")


def test_no_dollar_anchored_match_left_in_devbox() -> None:
    """A guard for the future: ``re.match`` / ``.match`` with a ``$``-anchored pattern lets a
    trailing newline through; use ``fullmatch`` (or ``\\Z``)."""
    import re

    root = Path(__file__).resolve().parents[2] / "devbox"
    compiled: dict[str, str] = {}
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"^(\w+) = re\.compile\(r?[\"'](.*)[\"']\)", text, re.M):
            compiled[m.group(1)] = m.group(2)
        for no, line in enumerate(text.splitlines(), 1):
            if re.search(r"\bre\.match\(r?[\"'][^\"']*\$[\"']", line):
                offenders.append(f"{path.name}:{no}: {line.strip()}")
            for var in re.findall(r"\b(_\w+)\.match\(", line):
                if compiled.get(var, "").endswith("$"):
                    offenders.append(f"{path.name}:{no}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
