"""Shared CLI plumbing: the app context, output rendering, option types."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import sqlalchemy as sa

from consentgate import ids
from consentgate.config import Settings
from consentgate.encoding import dumps
from consentgate.errors import ConsentgateError, InvalidInput, UsageError
from consentgate.timestamps import parse_timestamp

if TYPE_CHECKING:
    from rich.console import Console

    from consentgate.workspace.context import Workspace

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    settings: Settings
    _workspace: Workspace | None = field(default=None, repr=False)

    def workspace(self, *, check: bool = True) -> Workspace:
        """The workspace of the settings, built once (see ``Workspace.from_settings``)."""
        if self._workspace is None:
            from consentgate.workspace.context import Workspace

            self._workspace = Workspace.from_settings(self.settings, check=check)
        return self._workspace

    def engine(self, *, check: bool = True) -> sa.Engine:
        """The ledger's engine; with ``check``, the schema must be current, and every
        dataset publication a crash interrupted is finished first."""
        return self.workspace(check=check).engine

    @property
    def opened_engine(self) -> sa.Engine | None:
        """The engine if a command opened it (None: the command did not touch the ledger)."""
        return self._workspace.engine if self._workspace is not None else None

    def checkpoint_now(self) -> None:
        """Sign the log's head before a build or disclosure (``auto_checkpoint``)."""
        if self.settings.auto_checkpoint:
            from consentgate.workspace.autocheckpoint import before_disclosure

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


class OutPath(click.Path):
    """An ``--out`` path, checked before anything is written: its nearest existing ancestor
    must be a writable directory (missing directories below it are created by the command).
    Refused with ``InvalidInput`` (exit 1) naming the option, not with a traceback later."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        option = f"--{param.name}" if param is not None and param.name else "--out"
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InvalidInput(
                f"{option} {path}: {ancestor} is not a directory; nothing was written"
            )
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise InvalidInput(f"{option} {path}: {ancestor} is not writable; nothing was written")
        return path


def out_path(*, dir_okay: bool = True) -> OutPath:
    return OutPath(dir_okay=dir_okay, path_type=Path)


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
    click.echo(dumps(data))


def read_text(path: Path) -> str:
    """A UTF-8 file the user named, or ``InvalidInput`` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc


def console() -> Console:
    from rich.console import Console  # imported when something is printed as a table

    return Console(highlight=False, soft_wrap=True)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)


# Where a command's click parameter is named differently from the use case's argument.
_PARAM_ALIASES = {"column_map": "mapping", "out_dir": "out", "dataset_ids": "datasets"}
_BACKTICKED = re.compile(r"`([a-z][a-z0-9_]*)`")
# Where a use-case message names another use case, the command that runs it.
_USE_CASE_COMMANDS = {
    "send_notices": "`consentgate notices send`",
    "publish_log": "`consentgate log publish`",
    "init_workspace": "`consentgate init`",
}


def _flag(command: click.Command, name: str) -> str | None:
    wanted = _PARAM_ALIASES.get(name, name)
    for param in command.params:
        opts = [o for o in param.opts if o.startswith("--")]
        if param.name == wanted or any(o[2:].replace("-", "_") == wanted for o in opts):
            if isinstance(param, click.Argument):
                return param.human_readable_name.upper()
            return max(opts, key=len) if opts else param.opts[0]
    return None


def name_flags(command: click.Command, message: str) -> str:
    """``message`` (from a use case) with each backticked argument name the command has
    as a flag or argument written the command's way (```as_of``` -> ``--as-of``)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return _flag(command, name) or _USE_CASE_COMMANDS.get(name) or m.group(0)

    return _BACKTICKED.sub(sub, message)


def flags_in_errors(command: click.Command) -> None:
    """Make ``command`` (and every subcommand) show use-case errors with its own flag names."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            flags_in_errors(sub)
        return
    callback = command.callback
    if callback is None or getattr(callback, "_names_flags", False):
        return

    @functools.wraps(callback)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except ConsentgateError as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (name_flags(command, exc.args[0]), *exc.args[1:])
            raise

    wrapped._names_flags = True  # type: ignore[attr-defined]
    command.callback = wrapped
