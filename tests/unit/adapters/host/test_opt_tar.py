"""/opt as a tar and back: links stay links (never followed), owners and modes kept; a
hostile archive (``..``, absolute names, a path through a link it made, duplicates, hard
links, devices) is refused and writes nothing outside the tree."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from devbox.adapters.host import opt_tar
from devbox.errors import OperationFailed


def _tree(top: Path) -> None:
    (top / "sub" / "deep").mkdir(parents=True)
    (top / "sub" / "deep" / "data.bin").write_bytes(os.urandom(70000))
    (top / "odd").write_text("odd\n")
    os.chmod(top / "odd", 0o1604)
    (top / "shadow").symlink_to("/etc/shadow")
    (top / "loop").symlink_to("loop")
    (top / "dirlink").symlink_to("/etc")
    os.mkfifo(top / "fifo")
    os.chown(top / "odd", 1234, 4321)


def _facts(top: Path) -> dict[str, tuple[int, int, int, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISFIFO(st.st_mode):
                continue
            what = (
                os.readlink(path)
                if path.is_symlink()
                else path.read_bytes().hex()[:64]
                if path.is_file()
                else "dir"
            )
            out[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, what)
    return out


def test_pack_and_unpack_keep_links_owners_and_modes(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _tree(src)
    buf = io.BytesIO()
    packed = opt_tar.pack(src, buf)
    assert packed.skipped == 1  # the FIFO
    archive = tmp_path / "opt.tar"
    archive.write_bytes(buf.getvalue())
    got = opt_tar.unpack(archive, dst)
    assert (got.entries, got.size) == (packed.entries, packed.size)
    want = _facts(src)
    want["odd"] = (want["odd"][0], *want["odd"][1:])
    assert _facts(dst) == want
    assert os.readlink(dst / "shadow") == "/etc/shadow"  # a link, never its target's text
    assert os.lstat(dst / "odd").st_mode & 0o7777 == 0o1604


def test_unpack_clears_setuid(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("suid")
        info.mode, info.size = 0o4755, 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "d").mkdir()
    opt_tar.unpack(archive, tmp_path / "d")
    assert os.lstat(tmp_path / "d" / "suid").st_mode & 0o7777 == 0o755


def _hostile(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


@pytest.mark.parametrize(
    ("members", "said"),
    [
        ([(_member("../escape"), b"x")], "the name"),
        ([(_member("OUTSIDE/abs"), b"x")], "the name"),
        (
            [(_member("up", tarfile.SYMTYPE, "OUTSIDE"), b""), (_member("up/f"), b"x")],
            "link",
        ),
        ([(_member("twice"), b"a"), (_member("twice"), b"b")], "twice"),
        ([(_member("hard", tarfile.LNKTYPE, "/etc/passwd"), b"")], "no file"),
        ([(_member("dev", tarfile.CHRTYPE), b"")], "no file"),
    ],
)
def test_a_hostile_archive_is_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], said: str
) -> None:
    archive, dest, outside = tmp_path / "bad.tar", tmp_path / "in" / "opt", tmp_path / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    for info, _data in members:  # absolute names point into this test's own folder
        info.linkname = info.linkname.replace("OUTSIDE", str(outside))
        info.name = info.name.replace("OUTSIDE", str(outside))
    _hostile(archive, members)
    with pytest.raises(OperationFailed, match=said):
        opt_tar.unpack(archive, dest)
    assert not (tmp_path / "in" / "escape").exists()
    assert list(outside.iterdir()) == []  # nothing written through the archive's link


def test_unpack_wants_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("")
    (tmp_path / "a.tar").write_bytes(b"")
    with pytest.raises(OperationFailed, match="not empty"):
        opt_tar.unpack(tmp_path / "a.tar", tmp_path / "d")


def test_pack_never_follows_a_directory_link(tmp_path: Path) -> None:
    top = tmp_path / "opt"
    top.mkdir()
    (top / "etc").symlink_to("/etc")
    buf = io.BytesIO()
    opt_tar.pack(top, buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        names = [(m.name, m.type) for m in tar]
    assert names == [("etc", tarfile.SYMTYPE)]
