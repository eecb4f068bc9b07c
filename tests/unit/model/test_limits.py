"""Resource limits: parsing, layering (settings < branch < product < flags) and host checks."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import limits
from devbox.model.limits import HostSize, Limits

HOST = HostSize(memory=16 << 30, cpus=8)
SETTINGS = {
    "limits.memory": "auto",
    "limits.cpus": "auto",
    "limits.pids": 4096,
    "limits.host_reserve": "2g",
}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 << 20),
        ("4g", 4 << 30),
        ("1.5g", 3 << 29),
        ("4GiB", 4 << 30),
        ("2G", 2 << 30),
        (str(128 << 20), 128 << 20),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert limits.parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "4x", "-1g", "", "1g\n", "4 g b", "1e9"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UserError):
        limits.parse_memory(text)


def test_too_small_and_too_many() -> None:
    with pytest.raises(UserError, match="too small"):
        limits.parse_memory("1m")
    with pytest.raises(UserError, match="too small"):
        limits.parse_pids("5")
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(UserError):
            limits.parse_cpus(bad)


def test_auto_keeps_the_host_alive() -> None:
    got = limits.defaults(SETTINGS, HOST)
    assert got == Limits(memory=14 << 30, cpus=7.0, pids=4096)
    one_cpu = limits.defaults(SETTINGS, HostSize(memory=4 << 30, cpus=1))
    assert one_cpu.cpus == 1.0 and one_cpu.memory == 2 << 30


def test_layers_later_wins() -> None:
    branch = limits.from_table({"memory": "8g", "pids": 1000}, "branch x")
    product = limits.from_table({"memory": "6g"}, "product y")
    flags = limits.request(cpus="2")
    got = limits.resolve(SETTINGS, HOST, branch, product, flags)
    assert got == Limits(memory=6 << 30, cpus=2.0, pids=1000)


def test_more_than_the_host_is_refused() -> None:
    with pytest.raises(UserError, match="more than this host can give"):
        limits.resolve(SETTINGS, HOST, limits.request(memory="15g"))
    with pytest.raises(UserError, match="more than this host has"):
        limits.resolve(SETTINGS, HOST, limits.request(cpus="9"))


def test_labels_round_trip_and_promised() -> None:
    lim = Limits(memory=1 << 30, cpus=0.5, pids=200)
    assert limits.from_labels(lim.labels()) == lim
    assert limits.from_labels({}) == Limits()
    total = limits.promised([lim.labels(), lim.labels(), {"devbox.limits.memory": "junk"}], HOST)
    assert total.memory == 2 << 30 and total.cpus == 1.0 and total.containers == 3
    assert "2.0 GiB of 16.0 GiB" in total.describe()


def test_branch_and_product_maps_take_limits() -> None:
    from devbox import branches
    from devbox.model import combo_plan

    bm = branches.loads(
        '[[branch]]\nname = "big"\nvcs = "git"\nurl = "/r"\nmemory = "8g"\ncpus = 4\npids = 9000\n'
    )
    assert bm.resolve("big").limits == Limits(memory=8 << 30, cpus=4.0, pids=9000)
    with pytest.raises(UserError, match="memory"):
        branches.loads('[[branch]]\nname = "b"\nvcs = "git"\nurl = "/r"\nmemory = "huge"\n')
    rels = combo_plan.parse_products(
        '[[product]]\nname = "acme"\nrelease = "5.*"\nimage = "i"\nbranch = "b"\nmemory = "2g"\n'
    )
    assert combo_plan.resolve_release(rels, "acme", "5.2").limits.memory == 2 << 30
