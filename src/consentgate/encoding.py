"""The one JSON encoding of use-case results, shared by the edges (the CLI's ``--json``, the
service's responses): frozen dataclasses as objects, datetimes as RFC 3339 UTC
(``format_timestamp``), paths as text, tuples and sets as lists (sets sorted), enums by value.

Written here rather than taken from pydantic because the results are plain frozen dataclasses
(the core and the use cases import no pydantic) and the CLI must not pay pydantic's import.

>>> from dataclasses import dataclass
>>> from datetime import UTC, datetime
>>> @dataclass(frozen=True)
... class Row:
...     at: datetime
...     tags: tuple[str, ...]
>>> jsonable(Row(datetime(2024, 9, 18, tzinfo=UTC), ("a", "b")))
{'at': '2024-09-18T00:00:00Z', 'tags': ['a', 'b']}
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from consentgate.timestamps import format_timestamp


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready Python (dicts, lists, text, numbers, booleans, None);
    anything not listed in the module docstring as ``str``."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def dumps(value: Any) -> str:
    """``value`` encoded as indented JSON with sorted keys (what ``--json`` prints)."""
    return json.dumps(jsonable(value), indent=2, sort_keys=True)
