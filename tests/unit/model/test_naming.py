"""Container names: DNS labels, refused with the offending character named."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
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
