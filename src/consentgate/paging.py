"""``Page``: one page of a list, cut in SQL (``LIMIT``/``OFFSET`` in a stable order), with
the list's ``total`` counted by the database, so that a page of a long list costs the
page, not the list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from consentgate.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``items`` from position ``offset`` (at most ``limit`` of them) of ``total``."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if end < self.total else None


def check_window(limit: int, offset: int) -> None:
    """``InvalidInput`` unless ``limit`` >= 1 and ``offset`` >= 0."""
    if limit < 1:
        raise InvalidInput("`limit`: expected at least 1")
    if offset < 0:
        raise InvalidInput("`offset`: expected at least 0")
