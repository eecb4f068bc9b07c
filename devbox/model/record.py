"""What every result record shares: its fields as a plain dict (``--json``, the API)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast


class Record:
    """Base of a dataclass result record: :meth:`to_dict` gives its fields, nested dataclasses
    as dicts too (:func:`dataclasses.asdict`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))
