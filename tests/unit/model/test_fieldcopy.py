from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from devbox.model.fieldcopy import copy_fields


@dataclass(frozen=True)
class Small:
    a: int
    b: str = "b"
    derived: int = field(init=False, default=0)


@dataclass
class Big:
    a: int
    b: str
    c: float


def test_takes_the_same_named_fields() -> None:
    assert copy_fields(Small, Big(1, "x", 2.0)) == Small(1, "x")


def test_changes_win_over_the_source() -> None:
    assert copy_fields(Small, Big(1, "x", 2.0), b="y") == Small(1, "y")


def test_a_change_stands_for_a_field_the_source_lacks() -> None:
    assert copy_fields(Big, Small(1), c=2.5) == Big(1, "b", 2.5)


def test_a_source_without_a_field_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        copy_fields(Big, Small(1))


def test_a_change_that_is_no_field_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="no field c"):
        copy_fields(Small, Big(1, "x", 2.0), c=3.0)
