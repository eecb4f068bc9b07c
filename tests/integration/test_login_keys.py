"""The login user's ids for the keys put in before the first boot, read from the image's
/etc/passwd through the engine once per image (then from devbox's own copy, by image id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox.adapters.docker import containers as dc
from devbox.adapters.host import cgroupfs
from devbox.model.vmstyle import systemd_run_kwargs
from devbox.paths import Layout
from devbox.services import login_keys
from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.engine import test_name as unique_name

pytestmark = pytest.mark.integration


def test_image_ids_are_read_once_per_image(dev_image: str, engine: Any, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "root")
    name = unique_name("ids")
    kwargs = systemd_run_kwargs(
        name=name, image=dev_image, opt_dir=None, labels={TEST_LABEL: RUN_ID},
        cgroup_mode=cgroupfs.mode(), restart="",
    )  # fmt: skip
    dc.create(kwargs)
    try:
        assert login_keys.image_ids(name, "dev") == (1000, 1000)  # no layout: nothing kept
        assert not (layout.run / "image-passwd").exists()
        assert login_keys.image_ids(name, "dev", layout) == (1000, 1000)
        image = engine.images.get(dev_image).id.removeprefix("sha256:")
        kept = layout.run / "image-passwd" / image
        assert "dev:x:1000:1000:" in kept.read_text()
        # the next make of that image reads devbox's copy, not the engine (proved by a copy
        # that differs from the image's)
        kept.write_text("dev:x:4242:4343::/home/dev:/bin/bash\n")
        assert login_keys.image_ids(name, "dev", layout) == (4242, 4343)
        kept.unlink()
        assert login_keys.image_ids(name, "dev", layout) == (1000, 1000)
    finally:
        dc.remove(name)
