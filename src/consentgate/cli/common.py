"""Shared CLI plumbing: the app context, output rendering, option types."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from consentgate import ids
from consentgate.config import Settings
from consentgate.errors import UsageError
from consentgate.store.engine import check_current, make_engine
from consentgate.timestamps import parse_timestamp

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    settings: Settings
    _engine: sa.Engine | None = field(default=None, repr=False)

    def engine(self, *, check: bool = True) -> sa.Engine:
        """The ledger's engine; with ``check``, the schema must be current, and every
        dataset publication a crash interrupted is finished first."""
        if self._engine is None:
            self._engine = make_engine(
                self.settings.db_url, busy_timeout=self.settings.busy_timeout
            )
            if check:
                check_current(self._engine)
                from consentgate.startup import check_workspace

                check_workspace(self._engine, self.settings.signing_key_path)
                from consentgate.publication import recover

                recover(self._engine)
        return self._engine

    @property
    def opened_engine(self) -> sa.Engine | None:
        """The engine if a command opened it (None: the command did not touch the ledger)."""
        return self._engine

    def checkpoint_now(self) -> None:
        """Sign the log's head before a build or disclosure (``auto_checkpoint``)."""
        if self.settings.auto_checkpoint:
            from consentgate.autocheckpoint import before_disclosure

            before_disclosure(self.engine(), self.settings.signing_key_path, self.settings.key_dir)


pass_app = click.make_pass_decorator(AppContext)


class Timestamp(click.ParamType[datetime]):
    name = "TIMESTAMP"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_timestamp(value, field=param.name if param and param.name else "timestamp")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIMESTAMP = Timestamp()


class Identifier(click.ParamType[str]):
    """A member or event id on the command line, checked by the rules every importer uses
    (``consentgate.ids``); a refusal names the rule, never the id."""

    def __init__(self, kind: str, problem: Callable[[Any], str | None]) -> None:
        self.name = kind
        self._problem = problem

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        problem = self._problem(value)
        if problem is not None:
            self.fail(f"not a valid {self.name}: {problem}", param, ctx)
        return str(value)


MEMBER_ID = Identifier("member id", ids.member_id_problem)
EVENT_ID = Identifier("event id", ids.event_id_problem)


def column_map(pairs: tuple[str, ...]) -> dict[str, str] | None:
    """``--map column=name`` options as the gate's ``{column: name}`` map (None when empty)."""
    out: dict[str, str] = {}
    for pair in pairs:
        column, sep, name = pair.partition("=")
        if not sep or not column or not name:
            raise UsageError(f"--map expects column=name, got {pair!r}")
        out[column] = name
    return out or None


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)
