"""/opt seeds from a URL against real servers on 127.0.0.1: a size limit, an overall time limit
(not only a socket time-out), an optional sha256 checked before anything reaches /opt, and no
redirect off TLS or to another scheme. Nothing is extracted when any of them says no."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.adapters import seed_fetch
from devbox.errors import OperationFailed, UserError
from tests.unit.loopback import Request, serve, tls_pair


def _tarball(size: int = 20_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = bytes(range(256)) * (size // 256 + 1)
        info = tarfile.TarInfo("tool/bin/hello")
        info.size = len(data[:size])
        tar.addfile(info, io.BytesIO(data[:size]))
    return buf.getvalue()


TARBALL = _tarball()
SHA = hashlib.sha256(TARBALL).hexdigest()


def _serve_tarball(req: Request) -> None:
    req.send(200, TARBALL, headers={"Content-Type": "application/x-tar"})


def _opt(tmp_path: Path) -> Path:
    """A container dir with an /opt that already holds user data, which must stay as it is."""
    opt = tmp_path / "ctr" / "opt"
    opt.mkdir(parents=True)
    (opt / "mine.txt").write_text("user data\n")
    return opt


def _untouched(opt: Path) -> bool:
    return (
        sorted(p.name for p in opt.iterdir()) == ["mine.txt"]
        and (opt / "mine.txt").read_text() == "user data\n"
        and not [p for p in opt.parent.iterdir() if p.name != "opt"]
    )  # no temp file left


def _limits(**kw: Any) -> seed_fetch.FetchLimits:
    return seed_fetch.FetchLimits(**kw)


def test_url_seed_with_matching_sha256_is_extracted(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    seen: list[tuple[int, int | None]] = []
    with serve(_serve_tarball) as srv:
        count = seed_fetch.unpack(
            f"{srv.base}/seed.tar",
            opt,
            lambda d, t: seen.append((d, t)),
            sha256=SHA.upper(),
            limits=_limits(),
        )
    assert count >= 1 and (opt / "tool" / "bin" / "hello").stat().st_size == 20_000
    assert seen and seen[-1][0] >= len(TARBALL)
    assert sorted(p.name for p in opt.parent.iterdir()) == ["opt"]  # the download is gone


@pytest.mark.parametrize("with_length", [True, False])
def test_too_big_is_refused_and_nothing_extracted(tmp_path: Path, with_length: bool) -> None:
    opt = _opt(tmp_path)

    def answer(req: Request) -> None:
        if with_length:
            req.send(200, TARBALL)
        else:  # no Content-Length: the body ends when the server closes
            req.send(200, headers={"Connection": "close"}, length=False)
            req.write(TARBALL)
            req.handler.close_connection = True

    with serve(answer) as srv:
        with pytest.raises(OperationFailed) as exc:
            seed_fetch.unpack(
                f"{srv.base}/big.tar", opt, lambda d, t: None, limits=_limits(max_bytes=10_000)
            )
    assert "seeds.max_bytes" in exc.value.message + (exc.value.hint or "")
    assert "\n" not in exc.value.message
    assert _untouched(opt)


def test_wrong_sha256_is_refused_and_opt_untouched(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    with serve(_serve_tarball) as srv:
        with pytest.raises(OperationFailed, match="sha256") as exc:
            seed_fetch.unpack(
                f"{srv.base}/seed.tar", opt, lambda d, t: None, sha256="0" * 64, limits=_limits()
            )
    assert SHA in exc.value.message and "\n" not in exc.value.message
    assert _untouched(opt)


def test_sha256_is_checked_for_a_local_tarball_too(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    tarball = tmp_path / "seed.tar"
    tarball.write_bytes(TARBALL)
    with pytest.raises(OperationFailed, match="sha256"):
        seed_fetch.unpack(str(tarball), opt, lambda d, t: None, sha256="1" * 64)
    assert _untouched(opt)
    assert seed_fetch.unpack(str(tarball), opt, lambda d, t: None, sha256=SHA) >= 1
    with pytest.raises(UserError, match="sha256"):
        seed_fetch.unpack(str(tarball), opt, lambda d, t: None, sha256="abc\n")


@pytest.mark.parametrize("mode", ["drip", "stall"])
def test_overall_time_limit_beats_a_slow_server(tmp_path: Path, mode: str) -> None:
    """A server that drips one byte at a time (never idle long enough for a socket time-out)
    or stalls: the overall limit ends the download, well before the socket time-out would."""
    opt = _opt(tmp_path)
    sent: list[int] = []

    def answer(req: Request) -> None:
        req.send(200, headers={"Content-Length": str(len(TARBALL))}, length=False)
        server = holder[0]
        for i in range(600):  # bounded: 600 x 0.1 s at most
            if server.stop.is_set():
                return
            if mode == "drip":
                req.write(TARBALL[i : i + 1])
                sent.append(i)
            time.sleep(0.1)

    holder: list[Any] = []
    with serve(answer) as srv:
        holder.append(srv)
        with pytest.raises(OperationFailed) as exc:
            seed_fetch.unpack(
                f"{srv.base}/slow.tar",
                opt,
                lambda d, t: None,
                timeout=60.0,
                limits=_limits(timeout=1.0),
            )
    # the overall limit (1 s) tripped, not the 60 s socket time-out: the error names it
    assert "seeds.timeout" in exc.value.message + (exc.value.hint or "")
    if mode == "drip":
        assert sent  # it really was dripping
    assert _untouched(opt)


def test_https_to_http_redirect_refused(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    ca_file, server_tls = tls_pair(tmp_path / "tls")

    with serve(_serve_tarball) as plain:

        def redirect(req: Request) -> None:
            req.send(302, headers={"Location": f"{plain.base}/seed.tar"})

        with serve(redirect, tls=server_tls) as secure:
            with pytest.raises(OperationFailed, match="redirect") as exc:
                seed_fetch.unpack(
                    f"{secure.base}/seed.tar",
                    opt,
                    lambda d, t: None,
                    limits=_limits(ca_file=ca_file),
                )
            assert len(secure.seen) == 1  # TLS verified with the CA given, then refused
    assert plain.seen == [] and "\n" not in exc.value.message
    assert _untouched(opt)


def test_https_seed_verified_and_same_scheme_redirect_followed(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    ca_file, server_tls = tls_pair(tmp_path / "tls")

    def answer(req: Request) -> None:
        if req.path == "/seed.tar":
            _serve_tarball(req)
        else:
            req.send(301, headers={"Location": "/seed.tar"})

    with serve(answer, tls=server_tls) as secure:
        assert (
            seed_fetch.unpack(
                f"{secure.base}/old.tar",
                opt,
                lambda d, t: None,
                sha256=SHA,
                limits=_limits(ca_file=ca_file),
            )
            >= 1
        )
        # without the CA, the self-signed server is not trusted
        with pytest.raises(OperationFailed):
            seed_fetch.unpack(
                f"{secure.base}/seed.tar", _opt(tmp_path / "b"), lambda d, t: None, limits=_limits()
            )
    assert (opt / "tool" / "bin" / "hello").exists()


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1:1/seed.tar"])
def test_redirect_to_another_scheme_refused(tmp_path: Path, target: str) -> None:
    opt = _opt(tmp_path)

    def answer(req: Request) -> None:
        req.send(302, headers={"Location": target})

    with serve(answer) as srv:
        with pytest.raises(OperationFailed, match="redirect"):
            seed_fetch.unpack(f"{srv.base}/seed.tar", opt, lambda d, t: None, limits=_limits())
    assert _untouched(opt)


def test_http_error_is_one_line(tmp_path: Path) -> None:
    opt = _opt(tmp_path)
    with serve(lambda req: req.send(404, b"nope")) as srv:
        with pytest.raises(OperationFailed, match="404") as exc:
            seed_fetch.unpack(f"{srv.base}/none.tar", opt, lambda d, t: None, limits=_limits())
    assert "\n" not in exc.value.message and _untouched(opt)


# -- opt-seeds.toml: sha256 per seed ---------------------------------------------------------


def test_seed_map_sha256(tmp_path: Path) -> None:
    from devbox.rolemaps import seed_for

    path = tmp_path / "opt-seeds.toml"
    path.write_text(
        f'[[seed]]\nmatch = "dev:*"\nsource = "https://seeds.example/dev.tgz"\n'
        f'sha256 = "{SHA.upper()}"\n\n[[seed]]\nmatch = "*:*"\nsource = "seeds/x"\n'
    )
    seed = seed_for("dev", "main", path)
    assert seed is not None and seed.sha256 == SHA and seed.is_url
    other = seed_for("os", "main", path)
    assert other is not None and other.sha256 == ""
    for bad in ('"abc"', f'"{SHA}\\n"', "42", f'"{SHA[:-1]}g"'):
        path.write_text(f'[[seed]]\nmatch = "*:*"\nsource = "x.tgz"\nsha256 = {bad}\n')
        with pytest.raises(UserError, match="sha256"):
            seed_for("dev", "main", path)


def test_shipped_seed_map_parses() -> None:
    from devbox.rolemaps import seed_for

    assert seed_for("dev", "main") is not None


def test_seed_settings_declared() -> None:
    from devbox import config

    cfg = config.load(
        environ={"DEVBOX_SEEDS_MAX_BYTES": "1000", "DEVBOX_SEEDS_TIMEOUT": "5"}, files=()
    )
    limits = seed_fetch.FetchLimits.from_config(cfg)
    assert (limits.max_bytes, limits.timeout, limits.ca_file) == (1000, 5.0, None)
    assert config.load(environ={}, files=())["seeds.max_bytes"] >= 1024**3
