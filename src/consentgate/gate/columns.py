"""Where the gate finds each field of a record: the column map (``--map column=name``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consentgate.errors import InvalidInput

__all__ = ["DEFAULT_COLUMNS", "Columns"]


@dataclass(frozen=True, slots=True)
class Columns:
    """Where the gate finds each field: canonical name -> column name in the data."""

    id: str = "id"
    category: str = "category"
    author_id: str = "author_id"
    recipient_ids: str = "recipient_ids"
    created_at: str = "created_at"
    text: str = "text"

    @classmethod
    def from_map(cls, mapping: Mapping[str, str] | None) -> Columns:
        """Columns from a ``{canonical: name}`` map (``--map column=name``)."""
        if not mapping:
            return DEFAULT_COLUMNS
        known = cls.__slots__
        problems = [
            f"`column_map` {key}={value}: unknown column {key!r} (known: {', '.join(known)})"
            for key, value in mapping.items()
            if key not in known
        ]
        problems += [
            f"`column_map` {key}=: empty column name" for key, value in mapping.items() if not value
        ]
        if problems:
            raise InvalidInput("bad column map", problems)
        return cls(**dict(mapping))

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}


DEFAULT_COLUMNS = Columns()
