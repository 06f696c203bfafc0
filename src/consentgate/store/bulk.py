"""Bulk inserts at DBAPI speed: one compiled INSERT, executemany with plain values.

SQLAlchemy Core's executemany processes every bound value in Python; for imports of
hundreds of thousands of rows that dominates. Here the statement is still compiled by
SQLAlchemy for the connection's dialect and run through ``exec_driver_sql`` with bound
parameters (never string-built SQL); values are converted once per column kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from consentgate.store.tables import UTCMicros

_MICROS = UTCMicros()


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    if isinstance(column.type, UTCMicros):
        return lambda v: None if v is None else _MICROS.process_bind_param(v, None)  # type: ignore[arg-type]
    if isinstance(column.type, sa.JSON):
        return lambda v: None if v is None else json.dumps(v, sort_keys=True)
    return lambda v: v


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings with every column of ``table``) in one executemany."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    convert = [_converter(c) for c in table.columns]
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=names)
    sql = str(compiled)
    if compiled.positional:
        order = [names.index(k) for k in compiled.positiontup or ()]
        params: list[Any] = []
        for r in rows:
            vals = [f(r.get(n)) for f, n in zip(convert, names, strict=True)]
            params.append(tuple(vals[i] for i in order))
    else:
        params = [{n: f(r.get(n)) for f, n in zip(convert, names, strict=True)} for r in rows]
    conn.exec_driver_sql(sql, params)
