"""Playwright for Python driving Debian's Chromium (/usr/bin/chromium), never a downloaded
browser: ``make`` (and ``.ci/run``) install it with ``apt-get install chromium``.

Without /usr/bin/chromium the browser tests are skipped, saying why; under CI (``CI`` set)
they fail instead, so that CI cannot pass without running them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots of every run (ignored by git); ``docs/screenshots/`` keeps the committed ones."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        reason = (
            f"Debian's Chromium is not installed at {CHROMIUM} (`make .venv/.installed` installs "
            "it as root with `apt-get install -y chromium`); browser tests need it"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
