"""The bulk reports as CSV or JSON text, streamed: the same bytes from ``consentgate report``
and from the API's downloads. Pure: takes columns and rows, yields text pieces.

CSV: RFC 4180 (``csv`` module, ``\\r\\n`` line ends), a header row, empty cells for None.
A cell that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) is prefixed with ``'`` (OWASP's CSV-injection advice); no value
consentgate writes starts that way except negative numbers, which it never writes.
JSON: ``{"report": NAME, "columns": [...], "rows": [{column: value}, ...]}``, written a few
hundred rows at a time so the whole document is never held in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["FORMATS", "csv_text", "json_text"]

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
_ROWS_PER_PIECE = 500
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % _ROWS_PER_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_text(name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    head = json.dumps({"report": name, "columns": list(columns)})
    yield head[:-1] + ', "rows": ['
    piece: list[str] = []
    first = True
    for row in rows:
        item = json.dumps(dict(zip(columns, row, strict=True)), sort_keys=False)
        piece.append(item if first else "," + item)
        first = False
        if len(piece) >= _ROWS_PER_PIECE:
            yield "\n".join(piece)
            piece = []
    yield "\n".join(piece) + "]}\n"
