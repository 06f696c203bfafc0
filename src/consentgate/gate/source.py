"""Record sources for the gate: Parquet files or directories, or JSONL, checked up front.

A source is opened once (``open_source``): its files are listed in a fixed order, each
file's schema is checked against the columns the gate needs (after the column map), and
then ``batches`` yields Arrow record batches in file order, row order. A file whose
columns or types do not fit raises ``SchemaMismatch`` naming the file and the column;
a JSONL line that cannot be read raises ``InvalidInput`` naming ``FILE:LINE``. A
directory holding a ``manifest.json`` is a dataset this gate built: its parts are read in
manifest order (so an audit can re-check it).

JSONL is read by ``pyarrow.json``; only when Arrow refuses a file is it re-read line by
line in Python, to say which lines are wrong (Arrow's errors do not name lines). Arrow
accepts timestamps without a zone as UTC, so ``created_at`` is read as text, checked for
an explicit zone (consentgate refuses naive timestamps) and then converted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from consentgate import limits
from consentgate.errors import InvalidInput, SchemaMismatch
from consentgate.gate.columns import Columns
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.timestamps import parse_timestamp

__all__ = ["Source", "SourceFile", "fingerprint", "open_source"]

PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_ZONE = r"([Zz]|[+-]\d{2}:?\d{2})$"
_MAX_PROBLEMS = 20

Format = Literal["parquet", "jsonl"]


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256}


def fingerprint(path: Path) -> SourceFile:
    """Size and SHA-256 of one file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return SourceFile(path=path, bytes=size, sha256=digest.hexdigest())


@dataclass(frozen=True, slots=True)
class Source:
    """An opened, checked source: files in reading order, their common Arrow schema."""

    files: tuple[Path, ...]
    format: Format
    schema: pa.Schema
    columns: Columns
    rows: int
    require_text: bool = False
    # Issue 13: columns the files lack that the gate adds as nulls (a source of posts has
    # no recipients column, and needs no fake one: recipient_ids is then null everywhere).
    absent: tuple[str, ...] = ()
    name: str = ""  # what it was opened from, for messages

    def requiring_text(self) -> Source:
        """This source, checked for a redacted build (its text columns must be text)."""
        if self.require_text:
            return self
        return _open(self.files, self.format, self.columns, require_text=True, name=self.name)

    def batches(self, *, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows, file by file, in row order."""
        for path in self.files:
            row = 0  # rows of this file before the batch
            if self.format == "parquet":
                with _unreadable_parquet(path):
                    reader = pq.ParquetFile(path)
                    batches = reader.iter_batches(batch_size=batch_rows, use_threads=True)
                    while True:
                        with _unreadable_parquet(path):
                            batch = next(batches, None)
                        if batch is None:
                            break
                        yield self._checked(path, batch, row)
                        row += batch.num_rows
            else:
                table = read_jsonl(
                    path, self.columns, require_text=self.require_text, schema=self.schema
                )
                for batch in table.to_batches(max_chunksize=batch_rows):
                    yield self._checked(path, batch, row)
                    row += batch.num_rows

    def categories(self) -> set[str]:
        """The distinct values of the category column (Parquet reads only that column)."""
        found: set[str] = set()
        name = self.columns.category
        for path in self.files:
            if self.format == "parquet":
                with _unreadable_parquet(path):
                    column = pq.read_table(path, columns=[name]).column(name)
            else:
                table = read_jsonl(path, self.columns, require_text=False, schema=self.schema)
                column = table.column(name)
            found.update(v for v in pc.unique(column).to_pylist() if v is not None)
        return found

    def _checked(self, path: Path, batch: pa.RecordBatch, row: int) -> pa.RecordBatch:
        _check_created_range(path, batch.column(self.columns.created_at), row, self.columns)
        for name in self.absent:
            if name not in batch.schema.names:
                batch = batch.append_column(
                    self.schema.field(name), pa.nulls(batch.num_rows, self.schema.field(name).type)
                )
        if batch.column(self.columns.id).null_count:
            raise InvalidInput(f"{path}: column {self.columns.id!r} (record id) has null values")
        if batch.schema != self.schema:
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
        return batch


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_US = (limits.MAX_TIMESTAMP - _EPOCH) // timedelta(microseconds=1)
_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _check_created_range(path: Path, created: pa.Array, row: int, columns: Columns) -> None:
    """Refuse a record whose ``created_at`` lies outside ``limits``' timestamp range
    (1970-01-01 to 9999-12-31 UTC, as every timestamp consentgate reads), naming the file,
    the record's row in it (1-based; the JSONL line when the file has no blank lines) and
    the column, never the value. Nulls are left to the gate."""
    if pa.types.is_null(created.type) or len(created) == 0:
        return
    assert limits.MIN_TIMESTAMP == _EPOCH  # the lower bound is 0 in every unit
    raw = created.view(pa.int64())
    out = pc.less(raw, pa.scalar(0, pa.int64()))
    unit = created.type.unit
    if unit in _PER_UNIT:  # nanoseconds (int64) cannot go past 2262
        out = pc.or_(out, pc.greater(raw, pa.scalar(_MAX_US // _PER_UNIT[unit], pa.int64())))
    bad = out.fill_null(False)
    if not pc.any(bad).as_py():
        return
    where = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    first = row + int(where[0]) + 1
    more = f" (and {len(where) - 1} more rows in this batch)" if len(where) > 1 else ""
    raise InvalidInput(
        f"cannot read source {path}",
        [
            f"{path}: row {first}, column {columns.created_at!r}: timestamp out of range "
            f"(1970-01-01 to 9999-12-31, in UTC){more}; nothing was written"
        ],
    )


def open_source(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    require_text: bool = False,
) -> Source:
    """Open ``path`` (a Parquet/JSONL file or a directory of them) and check its schema;
    ``column_map`` names the columns that play the gate's roles (``{role: column}``)."""
    root = Path(path)
    files, fmt = _list_files(root)
    return _open(
        files, fmt, Columns.from_map(column_map), require_text=require_text, name=str(path)
    )


def _open(
    files: tuple[Path, ...], fmt: Format, columns: Columns, *, require_text: bool, name: str
) -> Source:
    absent: tuple[str, ...] = ()
    if fmt == "parquet":
        schema, rows = _parquet_schema(files, columns, require_text=require_text)
        if columns.recipient_ids not in schema.names:  # posts: no recipients column
            schema = schema.append(pa.field(columns.recipient_ids, pa.list_(pa.string())))
            absent = (columns.recipient_ids,)
    else:
        schema, rows = _jsonl_schema(files, columns, require_text=require_text)
    return Source(
        files=files,
        format=fmt,
        schema=schema,
        columns=columns,
        rows=rows,
        require_text=require_text,
        absent=absent,
        name=name,
    )


def _format_of(path: Path) -> Format | None:
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return None


def _list_files(root: Path) -> tuple[tuple[Path, ...], Format]:
    if root.is_file():
        fmt = _format_of(root)
        if fmt is None:
            raise InvalidInput(f"{root}: not a Parquet (.parquet) or JSONL (.jsonl) file")
        return (root,), fmt
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such file or directory")
    if (root / MANIFEST_NAME).is_file():
        return _dataset_files(root), "parquet"
    found = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
        and _format_of(p) is not None
    )
    if not found:
        raise InvalidInput(f"{root}: no Parquet or JSONL files in directory")
    formats = {_format_of(p) for p in found}
    if len(formats) > 1:
        raise InvalidInput(f"{root}: mixes Parquet and JSONL files; use one format")
    fmt = _format_of(found[0])
    assert fmt is not None
    return tuple(found), fmt


def _dataset_files(root: Path) -> tuple[Path, ...]:
    """The parts of a dataset this gate built, in manifest order."""
    manifest = root / MANIFEST_NAME
    try:
        files = json.loads(manifest.read_text())["files"]
        paths = tuple(root / str(f["path"]) for f in files)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{manifest}: not a consentgate manifest ({exc})") from exc
    if not paths:
        raise InvalidInput(f"{root}: the dataset has no parts (no record was included)")
    return paths


# --------------------------------------------------------------------- schema checks


def _check_schema(
    where: Path, schema: pa.Schema, columns: Columns, *, require_text: bool
) -> list[str]:
    problems: list[str] = []
    wanted = {
        "id": _is_text,
        "category": _is_text,
        "author_id": _is_text,
        "recipient_ids": _is_text_list,
        "created_at": _is_zoned_timestamp,
    }
    if require_text:
        wanted["text"] = _is_text
    needs = {
        "id": "a string",
        "category": "a string",
        "author_id": "a string",
        "recipient_ids": "a list of strings",
        "created_at": "a timestamp with a timezone",
        "text": "a string",
    }
    for canonical, check in wanted.items():
        name = getattr(columns, canonical)
        label = f"column {name!r}" + (f" (mapped from {canonical!r})" if name != canonical else "")
        if canonical == "recipient_ids" and name not in schema.names:
            continue  # optional: a source of posts has no recipients (issue 13)
        if name not in schema.names:
            problems.append(f"{where}: {label} is missing")
        elif schema.get_all_field_indices(name) != [schema.get_field_index(name)]:
            problems.append(f"{where}: {label} appears more than once")
        elif not check(schema.field(name).type):
            problems.append(
                f"{where}: {label} has type {schema.field(name).type} but needs {needs[canonical]}"
            )
    return problems


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_text_list(t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _is_text(t.value_type) or pa.types.is_null(t.value_type)
    return False


def _is_zoned_timestamp(t: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(t) and t.tz is not None)


def _parquet_schema(
    files: tuple[Path, ...], columns: Columns, *, require_text: bool
) -> tuple[pa.Schema, int]:
    schema: pa.Schema | None = None
    rows = 0
    for path in files:
        try:
            meta = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from exc
        file_schema = meta.schema_arrow.remove_metadata()
        rows += meta.metadata.num_rows
        problems = _check_schema(path, file_schema, columns, require_text=require_text)
        if problems:
            raise SchemaMismatch("source schema does not fit", problems)
        if schema is None:
            schema = file_schema
        elif not file_schema.equals(schema):
            raise SchemaMismatch(
                "source schema does not fit", [_difference(path, files[0], file_schema, schema)]
            )
    assert schema is not None
    return schema, rows


def _difference(path: Path, first: Path, schema: pa.Schema, expected: pa.Schema) -> str:
    for field in expected:
        if field.name not in schema.names:
            return f"{path}: column {field.name!r} is missing (present in {first})"
        other = schema.field(field.name)
        if other.type != field.type:
            return f"{path}: column {field.name!r} has type {other.type}, {first} has {field.type}"
    for field in schema:
        if field.name not in expected.names:
            return f"{path}: column {field.name!r} is not in {first}"
    return f"{path}: columns are in another order than in {first}"


# ---------------------------------------------------------------------------- JSONL


def _jsonl_explicit(columns: Columns, *, require_text: bool) -> pa.Schema:
    fields = [
        pa.field(columns.id, pa.string()),
        pa.field(columns.category, pa.string()),
        pa.field(columns.author_id, pa.string()),
        pa.field(columns.recipient_ids, pa.list_(pa.string())),
        pa.field(columns.created_at, pa.string()),
    ]
    if require_text:
        fields.append(pa.field(columns.text, pa.string()))
    return pa.schema(fields)


@contextmanager
def _unreadable_parquet(path: Path) -> Iterator[None]:
    """A corrupt Parquet file (a damaged page, footer or thrift header) is bad input."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InvalidInput(f"{path}: cannot read Parquet: {reason}; nothing was written") from exc


def _check_nesting(path: Path) -> None:
    """Refuse, by line, a JSONL line nested deeper than ``limits.MAX_NESTING``: Arrow's JSON
    reader recurses per level and crashes the process (a segmentation fault) on deep input,
    so this runs before it. Costs two ``count`` calls per line (a record has one or two
    levels); only a line with many brackets is scanned exactly."""
    limit = limits.MAX_NESTING
    try:
        with path.open("rb") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line.count(b"{") + line.count(b"[") > limit and limits.json_nesting_exceeds(
                    line, limit
                ):
                    raise InvalidInput(
                        f"cannot read JSONL source {path}",
                        [f"{path}:{line_no}: nested deeper than {limit} levels"],
                    )
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc


def read_jsonl(
    path: Path, columns: Columns, *, require_text: bool = False, schema: pa.Schema | None = None
) -> pa.Table:
    """Read one JSONL file; ``created_at`` must carry a zone. Refuses with FILE:LINE."""
    _check_nesting(path)
    explicit = _jsonl_explicit(columns, require_text=require_text)
    options = pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer")
    try:
        table = pj.read_json(path, parse_options=options)
    except pa.ArrowInvalid as exc:
        raise _locate_jsonl_problems(path, columns, str(exc)) from exc
    created = table.column(columns.created_at)
    naive = pc.invert(pc.match_substring_regex(created, _ZONE)).fill_null(False)
    if pc.any(naive).as_py():
        raise _locate_jsonl_problems(path, columns, "timestamp without a timezone")
    try:
        stamps = pc.cast(created, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _locate_jsonl_problems(path, columns, str(exc)) from exc
    table = table.set_column(
        table.schema.get_field_index(columns.created_at),
        pa.field(columns.created_at, pa.timestamp("us", tz="UTC")),
        stamps,
    )
    if schema is not None and not table.schema.equals(schema):
        raise SchemaMismatch(
            "source schema does not fit", [_difference(path, path, table.schema, schema)]
        )
    return table


def _jsonl_schema(
    files: tuple[Path, ...], columns: Columns, *, require_text: bool
) -> tuple[pa.Schema, int]:
    schema: pa.Schema | None = None
    rows = 0
    for path in files:
        table = read_jsonl(path, columns, require_text=require_text)
        required = [columns.id, columns.category, columns.author_id, columns.created_at]
        missing = [
            name
            for name in required + ([columns.text] if require_text else [])
            if table.num_rows and table.column(name).null_count == table.num_rows
        ]
        if missing:
            raise SchemaMismatch(
                "source schema does not fit",
                [f"{path}: column {name!r} is missing" for name in missing],
            )
        rows += table.num_rows
        if schema is None:
            schema = table.schema
        elif not table.schema.equals(schema):
            raise SchemaMismatch(
                "source schema does not fit", [_difference(path, files[0], table.schema, schema)]
            )
    assert schema is not None
    return schema, rows


def _locate_jsonl_problems(path: Path, columns: Columns, arrow_message: str) -> InvalidInput:
    """Re-read ``path`` line by line to name the lines Arrow refused."""
    problems: list[str] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if len(problems) >= _MAX_PROBLEMS:
                problems.append("... (more problems not shown)")
                break
            if not raw.strip():
                continue
            problem = _line_problem(raw, columns)
            if problem:
                problems.append(f"{path}:{number}: {problem}")
    if not problems:
        problems = [f"{path}: {arrow_message}"]
    return InvalidInput(f"cannot read JSONL source {path}", problems)


def _line_problem(raw: bytes, columns: Columns) -> str | None:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not valid JSON ({exc.msg if isinstance(exc, json.JSONDecodeError) else exc})"
    if not isinstance(value, dict):
        return "not a JSON object"
    for name in (columns.id, columns.category, columns.author_id):
        if value.get(name) is not None and not isinstance(value[name], str):
            return f"{name!r} must be a string"
    if value.get(columns.id) is None:
        return f"{columns.id!r} (record id) is missing"
    recipients = value.get(columns.recipient_ids)
    if recipients is not None and not (
        isinstance(recipients, list) and all(r is None or isinstance(r, str) for r in recipients)
    ):
        return f"{columns.recipient_ids!r} must be a list of strings"
    created = value.get(columns.created_at)
    if created is not None:
        try:
            parse_timestamp(created, field=columns.created_at, allow_date=False)
        except ValueError as exc:
            return str(exc)
    return None
