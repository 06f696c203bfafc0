"""Atomic files and directories: the one place consentgate writes a file or a directory that
must appear whole or not at all, and ``sha256_file``.

``write_atomic(path, data)`` writes into a temporary sibling, ``fsync``s it, renames it over
``path``, ``fsync``s the parent, and deletes the temporary file when anything fails: a
reader sees the old bytes or the new ones, never a prefix.

Where a dataset is written before it appears under its name, and how it appears.

A dataset directory (a build, or a remediated version) is written into a hidden staging
sibling ``.<name>.tmp-<random>`` of its final path. When every file is written,
``atomic_directory`` ``fsync``s every file and directory of it, then hands it to a
*publisher*: by default ``os.replace`` renames it to the final path and the parent
directory is ``fsync``ed, so a crash leaves either nothing under the final name or the
complete directory. The ledger's use cases pass their own publisher
(``consentgate.workspace.publication``), which registers the dataset in the same step.

Each staging directory is paired with a lock file ``.<name>.tmp-<random>.lock`` held
(``flock``) by the process writing it. A staging directory whose lock nobody holds was
left by a process that died; the next staging of the same name deletes it, unless
``keep`` says it is still needed (a registered dataset waiting for its rename).

``reached(stage)`` marks the named stages of a publication for crash tests: a test
installs a hook (``install_hook``) that, for instance, kills the process at one stage.
Without a hook it does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere stale staging directories are simply left alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STAGES",
    "Publisher",
    "atomic_directory",
    "fsync_directory",
    "fsync_file",
    "fsync_tree",
    "install_hook",
    "publish_by_rename",
    "reached",
    "rename_into_place",
    "sha256_file",
    "write_atomic",
]

STAGES = ("parts_written", "manifest_written", "registered", "renamed", "published")
"""The named stages of a publication, in order (``registered`` and ``renamed`` only when
a ledger registers the dataset)."""

Publisher = Callable[[Path, Path], bool]
"""``publish(staged, final)``: make ``staged`` appear at ``final``; False when it declined
(the caller then deletes ``staged``). It owns ``staged`` from the moment it is called:
``atomic_directory`` no longer deletes it, whatever happens."""

_hook: Callable[[str], None] | None = None


def install_hook(hook: Callable[[str], None] | None) -> None:
    """Call ``hook(stage)`` at every stage a publication reaches (None: stop)."""
    global _hook
    _hook = hook


def reached(stage: str) -> None:
    if stage not in STAGES:  # pragma: no cover - a programming error
        raise ValueError(f"unknown stage {stage!r}")
    if _hook is not None:
        _hook(stage)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> str:
    """Write ``data`` (``str``: UTF-8) to ``path`` atomically and durably; return its SHA-256.

    The parent directory is created when missing. The file is created with mode ``0o600``
    (``mode`` sets another); on any failure the temporary file is removed and ``path`` keeps
    its old content.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return hashlib.sha256(raw).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """``fsync`` one file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """``fsync`` every file under ``root``, then every directory, deepest first."""
    directories: list[Path] = []
    for folder, _, names in os.walk(root):
        directories.append(Path(folder))
        for name in names:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for directory in reversed(directories):
        fsync_directory(directory)


def rename_into_place(staged: Path, final: Path) -> None:
    """Rename ``staged`` to ``final`` (never over an existing non-empty directory) and
    ``fsync`` the parent so the rename survives a power cut."""
    os.replace(staged, final)
    fsync_directory(final.parent)


def publish_by_rename(staged: Path, final: Path) -> bool:
    """The default publisher: rename (deleting ``staged`` if that fails)."""
    try:
        rename_into_place(staged, final)
    except BaseException:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        raise
    return True


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def _remove_stale(final: Path, keep: Callable[[Path], bool] | None) -> None:
    """Delete staging siblings of ``final`` whose writer died (their lock is free)."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    for lock in final.parent.glob(f".{final.name}.tmp-*.lock"):
        staged = lock.with_suffix("")
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            if staged.exists() and keep is not None and keep(staged):
                continue
            shutil.rmtree(staged, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        finally:
            os.close(fd)


@contextmanager
def atomic_directory(
    out_dir: Path,
    *,
    publish: Publisher | None = None,
    keep: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Yield a staging sibling of ``out_dir`` to write into; when the block succeeds,
    ``fsync`` it and ``publish`` it (default: rename it to ``out_dir``); when anything
    (even a KeyboardInterrupt) escapes the block, delete it.

    A killed process leaves at most a hidden ``.<name>.tmp-*`` sibling, never a partial
    ``out_dir``; the next staging of the same name removes it (see the module notes).
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir, keep)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{secrets.token_hex(6)}"
    with _lock(tmp.with_name(tmp.name + ".lock")):
        tmp.mkdir()
        try:
            yield tmp
            fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if not (publish or publish_by_rename)(tmp, out_dir):
            shutil.rmtree(tmp, ignore_errors=True)
