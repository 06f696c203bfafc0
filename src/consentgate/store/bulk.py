"""Bulk inserts at DBAPI speed: one compiled INSERT, executemany with plain values, or on
PostgreSQL (psycopg 3) a ``COPY ... FROM STDIN``.

SQLAlchemy Core's executemany processes every bound value in Python; for imports of
hundreds of thousands of rows that dominates. Here the statement is still compiled by
SQLAlchemy for the connection's dialect and run through ``exec_driver_sql`` with bound
parameters (never string-built SQL); values are converted once per column kind.

``insert_values`` takes rows already in database form (timestamps as integer microseconds,
JSON as text) as tuples in a named column order, so hot paths build each row once. On
PostgreSQL it streams them with ``COPY`` through the connection's own psycopg connection, in
the caller's transaction: the values travel as data, never as SQL text, and COPY inserts
several times faster than an executemany of single-row INSERTs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consentgate.store.tables import UTCMicros

_MICROS = UTCMicros()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICRO = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """A timestamp column's database value (``UTCMicros``), for ``insert_values`` rows."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return (value - _EPOCH) // _ONE_MICRO


def json_text(value: Any) -> str:
    """A JSON column's database value, for ``insert_values`` rows (as ``insert_rows`` writes)."""
    return json.dumps(value, sort_keys=True)


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    if isinstance(column.type, UTCMicros):
        return lambda v: None if v is None else _MICROS.process_bind_param(v, None)  # type: ignore[arg-type]
    if isinstance(column.type, sa.JSON):
        return lambda v: None if v is None else json_text(v)
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


def insert_values(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Insert ``rows``, tuples of the ``columns`` of ``table`` in that order, in database
    form (``micros`` for timestamps, ``json_text`` for JSON): COPY on psycopg, else one
    executemany. Returns the number of rows. Database errors surface as SQLAlchemy's
    (``sa.exc.IntegrityError``, ...).

    ``rows`` may be a generator: COPY consumes it as it streams, so the database inserts
    earlier rows while Python computes later ones.
    """
    names = list(columns)
    unknown = set(names) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _copy(conn, table, names, rows)
    params: list[Any] = rows if isinstance(rows, list) else list(rows)
    if not params:
        return 0
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=names)
    if compiled.positional:
        order = [names.index(k) for k in compiled.positiontup or ()]
        if order != list(range(len(names))):
            params = [tuple(r[i] for i in order) for r in params]
    else:
        params = [dict(zip(names, r, strict=True)) for r in params]
    conn.exec_driver_sql(str(compiled), params)
    return len(params)


def _copy(
    conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    quote = conn.dialect.identifier_preparer
    sql = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) FROM STDIN"
    )
    dbapi_conn: Any = conn.connection.dbapi_connection
    error = conn.dialect.loaded_dbapi.Error
    count = 1
    try:
        with dbapi_conn.cursor() as cursor, cursor.copy(sql) as copy:
            write = copy.write_row
            write(first)
            for row in rows:
                write(row)
                count += 1
    except error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, error) from exc
    return count


def one_of(
    conn: sa.Connection, column: sa.Column[Any], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """``column IN values`` with the values bound as one parameter: a JSON array read by
    ``json_each`` on SQLite, an array on PostgreSQL. An expanding ``IN`` of thousands of
    parameters costs more to compile and plan than the lookup itself (imports check every
    event id and member id); both forms still search the column's index."""
    if conn.dialect.name == "sqlite":
        listed = sa.func.json_each(sa.bindparam(None, json.dumps(list(values)))).table_valued(
            "value"
        )
        return column.in_(sa.select(listed.c.value))
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY  # loaded on PostgreSQL only

        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(sa.String)))
    return column.in_(list(values))
