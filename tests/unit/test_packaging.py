"""roles/ and templates/ ship inside the wheel and are found the same way as from a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_checkout_finds_data() -> None:
    from devbox import resources

    assert (resources.roles_dir() / "dockeruser" / "licenses.toml").is_file()
    assert resources.templates_dir().is_dir()


def test_wheel_carries_roles_and_templates_and_finds_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("devbox-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "devbox/_data/roles/dockeruser/licenses.toml" in names
    assert any(n.startswith("devbox/_data/templates/") for n in names)
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "from devbox import resources; r = resources.roles_dir(); "
        "print(r); assert (r / 'dockeruser' / 'licenses.toml').is_file()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
