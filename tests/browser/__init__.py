"""Browser tests (Playwright driving Debian's Chromium). A package, so that its conftest is
``browser.conftest`` and never shadows ``tests/conftest.py`` as the module ``conftest``."""
