"""Automatic checkpoints, and the latest one kept outside the database (issue 16.4).

Without a signed checkpoint, anyone who can write the ledger can rewrite its log and
re-chain it, and ``audit verify`` cannot tell. So every command that grew the log by at
least ``checkpoint_every`` entries signs a checkpoint when it finishes (the CLI calls
``after_command``), and ``build`` signs one before it starts (``before_disclosure``): a
dataset is always built from a log state that is signed. The signed note of the latest
checkpoint is also written to ``<key_dir>/checkpoint.latest`` (mode 0600, atomically), a
file outside the database: ``audit verify`` requires the log to extend it, which catches
a ledger rolled back to an older copy, or stripped of its checkpoints, as long as the key
directory was not rolled back with it. What no local check can catch (both rolled back
together, by someone holding the signing key) needs the witnessed log:
docs/transparency.md, "What a local check cannot see".

Nothing is signed when there is no signing key file (the ledger was never given one) or
the log has no entries. Adapters only: the signing itself is ``auditlog.create_checkpoint``.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from pathlib import Path

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken, OutputFailed
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.store import transparency as store_tlog
from consentgate.tlog.checkpoint import parse_checkpoint, split_note

__all__ = [
    "LATEST_NAME",
    "after_command",
    "before_disclosure",
    "compare_outside",
    "latest_path",
    "stored_checkpoints",
    "write_latest",
]

logger = logging.getLogger(__name__)
LATEST_NAME = "checkpoint.latest"


def latest_path(key_dir: Path) -> Path:
    return Path(key_dir) / LATEST_NAME


def write_latest(key_dir: Path, note: str) -> None:
    """Replace ``<key_dir>/checkpoint.latest`` with ``note``, atomically.

    The file's content is synced before the rename (a crash must never leave a torn note,
    which ``audit verify`` would report as tampering); the directory is not: if a crash
    loses the rename, the previous note is left, an older checkpoint that the ledger holds
    too, which is a weaker check but never a false alarm (docs/reliability.md says what
    a power loss can still do)."""
    path = latest_path(key_dir)
    tmp = path.with_name(f".{LATEST_NAME}.{secrets.token_hex(4)}")
    data = note.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        code = errno.errorcode.get(exc.errno or 0, "")
        raise OutputFailed(
            f"{path}: {reason}{f' [{code}]' if code else ''}: the signed checkpoint is stored "
            "in the ledger (and the command's changes were stored) but its copy outside the "
            "database was not written; the previous copy is kept. Free some space (or fix "
            "the directory) and run `consentgate audit checkpoint`"
        ) from exc


def _uncovered(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        size = store_audit.head(conn)[0]
        latest = store_tlog.latest_checkpoint(conn)
    return size - (latest.size if latest is not None else 0)


def checkpoint_if_grown(
    engine: sa.Engine, key_file: Path, key_dir: Path, *, every: int = 1
) -> int | None:
    """Sign a checkpoint when at least ``every`` entries are not covered by one; keep the
    latest outside the database. Returns the checkpoint's size, or None when nothing
    was signed (no key file, no entries, not enough new ones)."""
    if not Path(key_file).is_file():
        return None
    uncovered = _uncovered(engine)
    if uncovered <= 0 or uncovered < every:
        return None
    from consentgate.workspace.log import create_checkpoint  # signing: only when it signs

    head = create_checkpoint(engine, key_file)
    write_latest(key_dir, head.checkpoint.note)
    logger.info("checkpoint #%d signed: %d entries", head.checkpoint.number, head.checkpoint.size)
    return head.checkpoint.size


def after_command(engine: sa.Engine, key_file: Path, key_dir: Path, *, every: int) -> None:
    checkpoint_if_grown(engine, key_file, key_dir, every=every)


def before_disclosure(engine: sa.Engine, key_file: Path, key_dir: Path) -> None:
    """Every entry signed before a build or a disclosure starts."""
    checkpoint_if_grown(engine, key_file, key_dir, every=1)


def stored_checkpoints(engine: sa.Engine) -> int:
    """How many signed checkpoints the ledger holds."""
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(t.log_checkpoints)).scalar_one()
        )


def compare_outside(engine: sa.Engine, path: Path) -> int | None:
    """Check the ledger against the checkpoint kept outside it (``path``); returns its
    size, or None when there is no such file. ``AuditChainBroken`` when the log is shorter
    than it (a rollback or truncation) or no stored checkpoint has its size and root
    (checkpoints deleted, or the log rewritten behind it). The stored checkpoints are
    themselves verified against the log by ``audit verify``."""
    if not path.is_file():
        return None
    try:
        body, _ = split_note(path.read_text(encoding="utf-8"))
        outside = parse_checkpoint(body)
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditChainBroken(f"{path}: cannot read ({type(exc).__name__})") from exc
    with engine.connect() as conn:
        size = store_audit.head(conn)[0]
        stored = store_tlog.checkpoints(conn)
    if outside.size > size:
        raise AuditChainBroken(
            f"{path}: the checkpoint kept outside the database covers {outside.size} entries "
            f"but the log has {size}: the ledger was rolled back to an older copy or truncated"
        )
    if not any(c.size == outside.size and c.root == outside.root for c in stored):
        raise AuditChainBroken(
            f"{path}: no checkpoint in the ledger has this size ({outside.size}) and root: "
            "checkpoints were deleted or the log was rewritten"
        )
    return outside.size
