"""One record built from another: the fields of a dataclass taken from the same-named
attributes of any object (a NIC record's spec, the attachment ``net show`` prints)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def copy_fields(cls: type[D], source: object, **changes: Any) -> D:
    """A ``cls`` whose every init field is ``source``'s attribute of that name, but for the
    ones ``changes`` gives (AttributeError when ``source`` lacks one, TypeError for a change
    that is not a field)."""
    names = [f.name for f in fields(cls) if f.init]
    unknown = changes.keys() - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    taken = {name: getattr(source, name) for name in names if name not in changes}
    return cls(**taken, **changes)
