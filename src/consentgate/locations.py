"""Where a dataset may be written: ``--out`` as a local path or a ``file://`` URI.

The text is parsed as ``pyarrow.fs`` parses it (``FileSystem.from_uri``) for ``file://``;
a plain path stays a path. Any other URL scheme (``s3://``, ``gs://``, ``hdfs://``,
``abfs://``, ...) is refused with a message naming the scheme: a dataset is published
atomically by a rename on a local filesystem together with its registry row
(``consentgate.publication``), which object stores cannot do, and consentgate is not
configured for remote output. It never creates a local folder named after a URL scheme.
"""

from __future__ import annotations

import re
from pathlib import Path

from consentgate.errors import UsageError

__all__ = ["local_location"]

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")


def local_location(text: str) -> Path:
    """The local path ``text`` names; a non-local URL scheme raises ``UsageError``."""
    match = _URL.match(text)
    if match is None:
        return Path(text)
    scheme = match.group("scheme").lower()
    if scheme != "file":
        raise UsageError(
            f"output location scheme {scheme}:// is not configured: consentgate writes a "
            "dataset to a local filesystem (a file:// URI or a path) and publishes it there "
            "atomically; build locally and copy the directory (e.g. with pyarrow.fs.copy_files)"
        )
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(text)
    if not isinstance(filesystem, fs.LocalFileSystem):  # pragma: no cover - pyarrow's choice
        raise UsageError(f"{scheme}:// did not resolve to the local filesystem")
    return Path(path)
