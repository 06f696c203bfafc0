"""Fixtures of the hostile-input campaign (tests/hostile/): ``world``, one ledger per database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostile_world import World, ledger_url, populate

from consentgate.store.engine import make_engine


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    base = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONSENTGATE_KEY_DIR", str(base / "keys"))
        mp.chdir(base)
        for url in ledger_url(str(request.param), base):
            engine = make_engine(url)
            w = World(url, base, base / "log.pub", base / "ev1.receipt", engine)
            populate(w)
            try:
                yield w
            finally:
                engine.dispose()
