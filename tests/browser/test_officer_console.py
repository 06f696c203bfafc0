"""The officer console in Debian's Chromium, against a real ``serve --demo`` server
(the privacy center's fixture, tests/browser/test_privacy_center.py): the officer sees a
member's withdrawal in the console, axe-core finds no serious or critical violation on any
console page, and every console page is captured (tests/browser/artifacts/, and with
CONSENTGATE_UPDATE_SCREENSHOTS=1 docs/screenshots/console-*.png)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from playwright.sync_api import Browser, Page

from browser.test_privacy_center import (  # the same server and helpers as the center's tests
    AXE,
    AXE_SHA256,
    Server,
    _axe,
    browsing,
    screenshot,
    server,
    sign_in,
)

__all__ = ["server"]  # the fixture, used here

CONSOLE = [
    ("/console", "console-overview.png"),
    ("/console/policies", "console-policies.png"),
    ("/console/consent", "console-consent.png"),
    ("/console/builds", "console-builds.png"),
    ("/console/recipients", "console-recipients.png"),
    ("/console/remediation", "console-remediation.png"),
    ("/console/audit", "console-audit.png"),
]


def officer(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/login")
    page.click("text=Sign in as the privacy officer")
    page.wait_for_url(f"{server.url}/console")


def _eu_posts(page: Page, server: Server) -> tuple[int, int]:
    """The EU members sharing their posts now, of those offered the setting, as the
    consent-rates table shows it."""
    page.goto(f"{server.url}/console/consent")
    section = page.locator("section", has_text="(ai_training_posts)")
    row = section.locator("tr", has=page.locator('th[scope="row"]', has_text="EU"))
    last = re.findall(r"\((\d+)/(\d+)\)", row.inner_text())[-1]
    return int(last[0]), int(last[1])


def test_the_officer_sees_a_members_withdrawal(browser: Browser, server: Server) -> None:
    with browsing(browser) as (_, page, requests):
        officer(page, server)
        assert page.locator(".demo-banner").inner_text().startswith("DEMO")
        assert _eu_posts(page, server) == (1, 1)  # e1 granted posts
        open_before = page.goto(f"{server.url}/console/remediation")
        assert open_before is not None
    with browsing(browser) as (_, member, _requests):
        sign_in(member, server, "e1")
        member.click("text=Turn off: Use my posts to train AI models")
        member.wait_for_url("**/me/receipt?**")
    with browsing(browser) as (_, page, requests):
        officer(page, server)
        assert _eu_posts(page, server) == (0, 1)
        page.goto(f"{server.url}/console/remediation")
        pending = page.locator("table", has_text="Pending orders within their deadline")
        assert "None." not in pending.inner_text()  # the withdrawal opened remediation
        assert all(r.startswith(server.url) for r in requests), requests


def test_console_pages_pass_axe_and_are_captured(browser: Browser, server: Server) -> None:
    source = AXE.read_bytes()
    assert base64.b64encode(hashlib.sha256(source).digest()).decode() == AXE_SHA256
    found: dict[str, list[dict[str, Any]]] = {}
    with browsing(browser, bypass_csp=True) as (_, page, _requests):
        officer(page, server)
        for path, shot in CONSOLE:
            page.goto(f"{server.url}{path}")
            assert page.locator("h1").inner_text()
            screenshot(page, shot)
            found[path] = _axe(page, source)
    serious = {
        p: [v for v in f if v["impact"] in ("serious", "critical")] for p, f in found.items()
    }
    assert not any(serious.values()), serious
    assert set(found) == {p for p, _ in CONSOLE}
