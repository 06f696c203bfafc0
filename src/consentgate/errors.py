"""Every error consentgate raises on purpose.

* ConsentgateError            exit code 1 (refused input) unless stated
  + NotFound (LookupError)    an id, member, setting or version that does not exist
  + Conflict                  a write that contradicts what is stored (immutability, duplicates)
  + InvalidInput (ValueError) malformed files, bad timestamps, wrong types; carries locations
    + TaxonomyError           an unknown data use or data category key
    + PolicyError             a policy that breaks a publication rule (names rule and setting)
    + SchemaMismatch          a data file whose columns or types do not fit
  + RecipientRefused          a build for a recipient the policy does not allow
  + AuditChainBroken          the audit trail or a proof does not verify
  + DatabaseBusy              the ledger stayed locked by other writers (nothing written)
  + DatabaseUnavailable       the database connection failed or was lost mid-command
  + BrokenWorkspace           the ledger or its key files are missing, damaged or exposed
  + UsageError                exit code 2: the command was called wrongly

The CLI catches ConsentgateError once, prints ``Error: ...`` and exits with ``exit_code``;
the HTTP API maps the classes to status codes in one table.

Messages never name a caller's flags or routes: a message about an argument names the
Python parameter between backticks (```as_of` is after the build time``), and each edge
says it its own way (the CLI turns ```as_of``` into ``--as-of`` for the command that ran).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class ConsentgateError(Exception):
    """Base of every deliberate consentgate error."""

    exit_code: ClassVar[int] = 1


class UsageError(ConsentgateError):
    """The caller asked for something that cannot be asked this way."""

    exit_code: ClassVar[int] = 2


class NotFound(ConsentgateError, LookupError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class Conflict(ConsentgateError):
    """A write that contradicts what is stored."""


class InvalidInput(ConsentgateError, ValueError):
    """Bad input. ``problems`` lists every problem found, each already located.

    A location is ``FILE:LINE: reason`` for files, ``field: reason`` for values.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


class TaxonomyError(InvalidInput):
    """An unknown taxonomy key (data use or data category)."""

    def __init__(self, kind: str, key: str, where: str = "") -> None:
        loc = f" ({where})" if where else ""
        super().__init__(f"unknown {kind} {key!r}{loc}")
        self.kind = kind
        self.key = key


class PolicyError(InvalidInput):
    """A policy version that breaks a publication rule."""

    def __init__(self, rule: str, message: str, *, setting: str | None = None) -> None:
        where = f" [setting {setting!r}]" if setting else ""
        super().__init__(f"policy refused by rule '{rule}'{where}: {message}")
        self.rule = rule
        self.setting = setting


class SchemaMismatch(InvalidInput):
    """A data file whose columns or types do not fit what is expected."""


class RecipientRefused(ConsentgateError):
    """A third-party recipient the policy in force does not allow for the use."""


class AuditChainBroken(ConsentgateError):
    """The audit trail does not verify; ``index`` is the first bad entry, if known."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class DatabaseBusy(ConsentgateError):
    """The ledger stayed locked by other writers longer than the bounded wait."""


class DatabaseUnavailable(ConsentgateError):
    """The database could not be reached, or the connection was lost mid-command."""


class BrokenWorkspace(ConsentgateError):
    """The ledger or a key file is missing, damaged or readable by others (checked at start)."""


class OutputFailed(ConsentgateError):
    """A file could not be written (a full disk, a permission); the message says what was
    stored before it and how to finish."""
