"""A SISA model on disk: a directory with ``manifest.json`` and one pickle per shard.

::

    model-dir/
      manifest.json        format, seed, features, label, classes, estimator class and
                           params, and per shard: fingerprint, rows, seed, file, sha256
      prototype.pkl        the unfitted estimator (cloned to retrain a shard)
      shard-0003.pkl       one fitted estimator per trained shard (empty and one-class
                           shards have no file; the manifest says what they vote)

**Trust.** Pickle files execute code when loaded. Load only models your own pipeline
wrote. ``load_model`` checks every file against the SHA-256 in the manifest before
unpickling, which catches corruption and a swapped file, but not an attacker who can
rewrite the manifest too. scikit-learn also warns when the saving version differs.

The directory is written under a temporary name and renamed when complete, and an
existing directory is never overwritten: a retrained model is a new version.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

from consentgate.errors import Conflict, InvalidInput
from consentgate.unlearn.features import features_from_json, features_to_json
from consentgate.unlearn.sisa import Shard, ShardedModel

__all__ = ["FORMAT", "load_model", "save_model"]

FORMAT = "consentgate.sisa.v1"
MANIFEST = "manifest.json"
PROTOTYPE = "prototype.pkl"


def _write_pickle(directory: Path, name: str, value: Any) -> str:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    (directory / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _manifest(model: ShardedModel, directory: Path) -> dict[str, Any]:
    import sklearn

    shards = []
    for shard in model.shards:
        entry: dict[str, Any] = {
            "index": shard.index,
            "fingerprint": shard.fingerprint,
            "rows": shard.rows,
            "seed": shard.seed,
            "constant": shard.constant,
        }
        if shard.estimator is not None:
            name = f"shard-{shard.index:04d}.pkl"
            entry |= {"file": name, "sha256": _write_pickle(directory, name, shard.estimator)}
        shards.append(entry)
    return {
        "format": FORMAT,
        "shard_count": model.shard_count,
        "seed": model.seed,
        "label": model.label,
        "shard_column": model.shard_column,
        "id_column": model.id_column,
        "features": features_to_json(model.features),
        "classes": list(model.classes),
        "estimator": model.estimator_params()
        | {"file": PROTOTYPE, "sha256": _write_pickle(directory, PROTOTYPE, model.prototype)},
        "versions": {"scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "shards": shards,
    }


def save_model(model: ShardedModel, path: str | os.PathLike[str]) -> str:
    """Write ``model`` to a new directory; returns the SHA-256 of its manifest."""
    target = Path(path)
    if target.exists():
        raise Conflict(f"model directory {str(target)!r} already exists")
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    try:
        manifest = _manifest(model, staging)
        data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        (staging / MANIFEST).write_bytes(data)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return hashlib.sha256(data).hexdigest()


def _read_pickle(directory: Path, name: str, expected: str) -> Any:
    file = directory / Path(name).name
    if not file.is_file():
        raise InvalidInput("a model file is missing", [f"{file}: missing"])
    data = file.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise InvalidInput("a model file does not match its manifest", [f"{file}: sha256 differs"])
    return pickle.loads(data)  # trusted: hash checked against our own manifest


def load_model(path: str | os.PathLike[str]) -> ShardedModel:
    """Read a model written by ``save_model`` (see the trust note in the module docs)."""
    directory = Path(path)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput("not a model directory", [f"{directory / MANIFEST}: missing"]) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "model manifest is not JSON", [f"{directory / MANIFEST}: {exc}"]
        ) from exc
    if manifest.get("format") != FORMAT:
        raise InvalidInput("unknown model format", [f"format: {manifest.get('format')!r}"])
    estimator = manifest["estimator"]
    shards = []
    for entry in manifest["shards"]:
        fitted = (
            _read_pickle(directory, entry["file"], entry["sha256"]) if "file" in entry else None
        )
        shards.append(
            Shard(
                index=int(entry["index"]),
                fingerprint=str(entry["fingerprint"]),
                rows=int(entry["rows"]),
                seed=int(entry["seed"]),
                estimator=fitted,
                constant=entry["constant"],
            )
        )
    if [s.index for s in shards] != list(range(int(manifest["shard_count"]))):
        raise InvalidInput("model manifest shards are not 0..S-1", [f"{directory / MANIFEST}"])
    return ShardedModel(
        shards=tuple(shards),
        features=features_from_json(manifest["features"]),
        label=str(manifest["label"]),
        classes=tuple(manifest["classes"]),
        prototype=_read_pickle(directory, estimator["file"], estimator["sha256"]),
        seed=int(manifest["seed"]),
        shard_column=str(manifest["shard_column"]),
        id_column=str(manifest["id_column"]),
    )
