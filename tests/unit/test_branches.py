"""The branch map: loading, resolution order, close matches, name validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import branches
from devbox.config import load as load_config
from devbox.errors import UserError

MAP = """
[[branch]]
name = "release/*"
vcs = "p4"
depot = "//depot/{{ branch }}"
image = "img:release"
license = "lic-release"

[[branch]]
name = "release/5.2"
vcs = "p4"
depot = "//depot/r52"
image = "img:r52"
opt_seed = "seed52"

[[branch]]
name = "release/5.*"
vcs = "git"
url = "https://git.example.com/x.git"
ref = "{{ branch }}"

[[branch]]
name = "main"
vcs = "git"
url = "/srv/git/main.git"
sparse = ["src", "docs"]
depth = 1
path = "."
"""


def test_exact_match_beats_an_earlier_glob() -> None:
    bmap = branches.loads(MAP)
    hit = bmap.resolve("release/5.2")
    assert hit.entry.name == "release/5.2"
    assert (hit.image, hit.opt_seed, hit.vcs) == ("img:r52", "seed52", "p4")


def test_globs_in_file_order() -> None:
    hit = branches.loads(MAP).resolve("release/5.3")
    assert hit.entry.name == "release/*"  # first glob in the file wins over release/5.*
    assert hit.name == "release/5.3"
    assert hit.license == "lic-release"


def test_fields_parsed() -> None:
    main = branches.loads(MAP).resolve("main").entry
    assert main.sparse == ("src", "docs")
    assert main.depth == 1
    assert main.path == "."
    assert branches.container_path(main.path) == "/opt"
    assert branches.container_path("src") == "/opt/src"


def test_unknown_branch_lists_close_matches() -> None:
    with pytest.raises(UserError) as err:
        branches.loads(MAP).resolve("mian")
    assert "unknown branch 'mian'" in err.value.message
    assert err.value.hint is not None
    assert "did you mean: main" in err.value.hint
    assert "release/*" in err.value.hint


@pytest.mark.parametrize(
    "bad",
    [
        "-rf",
        "--upload-pack=x",
        "a b",
        "tab\tx",
        "new\nline",
        "a..b",
        "../etc",
        "x\x00y",
        "a//b",
        "trailing/",
        "dot.",
        "x.lock",
        "",
        "a;b",
        "a$b",
        "a`b",
        "é",
        "x" * 201,
        "@{u}",
        "a:b",
        "a~1",
        "a^",
        "a*",
        "a?",
        "[a]",
    ],
)
def test_bad_branch_names_rejected(bad: str) -> None:
    with pytest.raises(UserError):
        branches.validate_branch_name(bad)
    with pytest.raises(UserError):
        branches.loads(MAP).resolve(bad)


@pytest.mark.parametrize("good", ["main", "release/5.2", "feature-x_y+z", "v1.2.3", "A/b/C"])
def test_good_branch_names(good: str) -> None:
    assert branches.validate_branch_name(good) == good


@pytest.mark.parametrize(
    "url", ["-oProxyCommand=x", "ext::sh -c x", "relative/path", "https://a b", "fd::3"]
)
def test_bad_git_urls(url: str) -> None:
    with pytest.raises(UserError):
        branches.validate_git_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "/srv/git/x.git",
        "file:///srv/x",
        "ssh://git@h/x.git",
        "https://h/x.git",
        "git://127.0.0.1:9418/x",
    ],
)
def test_good_git_urls(url: str) -> None:
    assert branches.validate_git_url(url) == url


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[branch]]\nname = "x"\nvcs = "svn"\n', "vcs must be one of"),
        ('[[branch]]\nname = "x"\nvcs = "p4"\n', "needs depot"),
        ('[[branch]]\nname = "x"\nvcs = "git"\n', "needs url"),
        ('[[branch]]\nname = "x"\nvcs = "git"\nurl = "/r"\ncolour = 1\n', "unknown key"),
        ('[[branch]]\nname = "x"\nvcs = "git"\nurl = "/r"\npath = "../up"\n', ".."),
        ('[[branch]]\nname = "x"\nvcs = "git"\nurl = "/r"\npath = "/abs"\n', "path"),
        ('[[branch]]\nname = "x"\nvcs = "git"\nurl = "/r"\ndepth = -1\n', "depth"),
        (
            '[[branch]]\nname = "x"\nvcs = "git"\nurl = "/r"\n[[branch]]\nname = "x"\nvcs = "git"\n'
            'url = "/r"\n',
            "listed twice",
        ),
        ('[[branch]]\nname = "-x"\nvcs = "git"\nurl = "/r"\n', "starts with '-'"),
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1\n", "unknown table"),
    ],
)
def test_bad_maps(text: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        branches.loads(text, "test.toml")
    assert message in err.value.message
    assert "test.toml" in err.value.message or "TOML" in err.value.message


def test_shipped_map_loads_and_resolves() -> None:
    bmap = branches.load()
    assert bmap.entries, "the shipped branch map is empty"
    for entry in bmap.entries:
        if not entry.is_glob:
            assert bmap.resolve(entry.name).entry is entry
    assert bmap.resolve("release/5.2").entry.name == "release/*"


def test_map_from_config_setting(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(MAP)
    cfg = load_config(environ={"DEVBOX_BRANCHES_MAP": str(path)}, files=())
    assert branches.for_config(cfg).source == str(path)
    missing = load_config(environ={"DEVBOX_BRANCHES_MAP": str(tmp_path / "nope")}, files=())
    with pytest.raises(UserError, match="branch map not found"):
        branches.for_config(missing)
