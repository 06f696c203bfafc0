"""The offline verifier's Content-Security-Policy: ``default-src 'none'`` and its one inline
script and one inline style allowed by their SHA-256 hashes only.

The page (``src/consentgate/web/static/verifier.html``) carries the policy in a ``<meta>``
tag. After editing the script or the style, run ``python tests/browser/csp.py --write`` to
put the new hashes in it; ``test_offline_verifier.py`` fails while they are stale.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from pathlib import Path

PAGE = (
    Path(__file__).resolve().parents[2] / "src" / "consentgate" / "web" / "static" / "verifier.html"
)
_META = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(">)')


def _hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def expected_policy(html: str) -> str:
    """The policy the page must carry: nothing but its own inline script and style."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    if len(scripts) != 1 or len(styles) != 1:
        raise ValueError("the verifier page must have exactly one <script> and one <style>")
    return (
        f"default-src 'none'; script-src {_hash(scripts[0])}; style-src {_hash(styles[0])}; "
        "base-uri 'none'; form-action 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def page_policy(html: str) -> str:
    """The policy the page carries."""
    match = _META.search(html)
    if match is None:
        raise ValueError("the verifier page has no Content-Security-Policy meta tag")
    return match.group(2)


def write(path: Path = PAGE) -> None:
    html = path.read_text(encoding="utf-8")
    policy = expected_policy(html)
    path.write_text(_META.sub(lambda m: m.group(1) + policy + m.group(3), html, count=1), "utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(expected_policy(PAGE.read_text(encoding="utf-8")))
