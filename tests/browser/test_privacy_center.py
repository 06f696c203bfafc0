"""The member privacy center in Debian's Chromium, against a real ``serve --demo`` server
(uvicorn on loopback) over a small SQLite workspace.

A member signs in with the demo login, withdraws a setting, sees it in their history,
downloads the receipt and checks it in the offline verifier (the saved ``verifier.html``,
opened from file://); a browser sending Global Privacy Control has third-party sharing
refused; axe-core finds no serious or critical violation on any page; and with JavaScript
disabled the toggle still works. Screenshots of every page go to tests/browser/artifacts/
(and, with CONSENTGATE_UPDATE_SCREENSHOTS=1, to docs/screenshots/).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page

from browser.conftest import ARTIFACTS
from consentgate import workspace
from consentgate.config import Settings
from consentgate.service import create_app
from consentgate.store.engine import make_engine
from consentgate.timestamps import format_timestamp, utcnow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="  # axe-core 4.14.1 sri-history.json

EVENTS = [
    {
        "member_id": "e1",
        "type": "grant",
        "setting": "ai_training_posts",
        "policy_version": "v2",
        "effective_at": "2024-09-20T00:00:00Z",
        "covers_from": "2024-01-01T00:00:00Z",
    },
    {
        "member_id": "e2",
        "type": "grant",
        "setting": "ai_training_messages_partners",
        "policy_version": "v2",
        "effective_at": "2024-09-20T00:00:00Z",
    },
]
RECORDS = [
    {"id": "p1", "author_id": "u1", "created_at": "2024-10-01T00:00:00Z", "text": "hello"},
    {"id": "p2", "author_id": "e1", "created_at": "2024-10-02T00:00:00Z", "text": "hi"},
]


def _cli(db: str, *args: str) -> str:
    from consentgate.cli import main

    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            main(["--db", db, *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    assert code == 0, (args, out.getvalue())
    return out.getvalue()


def _v3() -> str:
    """A version published now and taking effect in 40 days, adding a sharing setting."""
    now = utcnow()
    text = (EXAMPLES / "policy-v2.yaml").read_text()
    text = text.replace("version: v2", "version: v3")
    text = text.replace(
        "published_at: 2024-08-14T00:00:00Z",
        f"published_at: {format_timestamp(now - timedelta(minutes=1))}",
    )
    text = text.replace(
        "effective_from: 2024-09-18T00:00:00Z",
        f"effective_from: {format_timestamp(now + timedelta(days=40))}",
    )
    return text + (
        "  - id: ai_training_posts_partners\n"
        "    label: Share my public posts with partners to train AI models\n"
        "    use: train_ai_system\n"
        "    categories: [user.content.public]\n"
        "    recipients: [acme-ai]\n"
        '    defaults: {"*": "off"}\n'
    )


@dataclass(frozen=True)
class Server:
    url: str
    db: str
    tmp: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("center")
    db = f"sqlite:///{tmp / 'ledger.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONSENTGATE_KEY_DIR", str(tmp / "keys"))
        _cli(db, "init")
        for v in ("v1", "v2"):
            _cli(db, "policy", "publish", str(EXAMPLES / f"policy-{v}.yaml"))
        (tmp / "m.csv").write_text("member_id,jurisdiction\nu1,US\nu2,US-CA\ne1,EU\ne2,UK\n")
        _cli(db, "members", "import", str(tmp / "m.csv"))
        (tmp / "e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
        _cli(db, "consent", "import", str(tmp / "e.jsonl"))
        records = [{**r, "category": "user.content.public", "recipient_ids": None} for r in RECORDS]
        (tmp / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        _cli(
            db,
            *("build", str(tmp / "r.jsonl"), "--use", "train_ai_system"),
            *("--recipient", "first_party", "--as-of", "2024-11-01T00:00:00Z"),
            *("--out", str(tmp / "ds"), "--json"),
        )
    settings = Settings(db_url=db, key_dir=tmp / "keys", service_cookie_secure=False)
    engine = make_engine(db)
    workspace.publish_policy(engine, _v3(), name="v3.yaml", notice_days=30)
    app = create_app(settings, engine=engine, demo=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", db, tmp)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def screenshot(page: Page, name: str) -> None:
    """Every run: tests/browser/artifacts/; with CONSENTGATE_UPDATE_SCREENSHOTS=1 also the
    committed copies in docs/screenshots/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if os.environ.get("CONSENTGATE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)


@contextlib.contextmanager
def browsing(browser: Browser, **options: Any) -> Iterator[tuple[BrowserContext, Page, list[str]]]:
    """A context whose requests are recorded; each must go to the loopback server."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, **options)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    try:
        yield context, context.new_page(), requests
    finally:
        context.close()


def sign_in(page: Page, server: Server, member: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#member_id", member)
    page.click("text=Sign in as this member")
    page.wait_for_url(f"{server.url}/me")


def _events(server: Server, member: str) -> list[Any]:
    engine = make_engine(server.db)
    try:
        return workspace.member_history(engine, member)
    finally:
        engine.dispose()


def _dataset(server: Server) -> str:
    engine = make_engine(server.db)
    try:
        (dataset,) = workspace.list_datasets(engine)
        return dataset.dataset_id
    finally:
        engine.dispose()


def test_member_withdraws_sees_history_and_verifies_the_receipt_offline(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    with browsing(browser, accept_downloads=True) as (_context, page, requests):
        page.goto(f"{server.url}/login")
        assert page.locator(".demo-banner").inner_text().startswith("DEMO")
        screenshot(page, "center-login.png")
        sign_in(page, server, "e1")
        state = page.locator("#state-ai_training_posts")
        assert state.inner_text() == "You allowed this"
        assert page.locator(".notice h2").inner_text().startswith("A new privacy policy (v3)")
        screenshot(page, "center-settings.png")

        page.click("text=Turn off: Use my posts to train AI models")
        page.wait_for_url("**/me/receipt?**")
        assert (
            page.locator(".confirm")
            .inner_text()
            .startswith("Recorded: you withdrew consent for “Use my posts to train AI models”")
        )
        screenshot(page, "center-receipt.png")
        last = _events(server, "e1")[-1]
        assert (last.type.value, last.setting, last.source) == (
            "withdraw",
            "ai_training_posts",
            "web",
        )

        with page.expect_download() as dl:
            page.click("text=Download this receipt")
        receipt = tmp_path / "receipt.tlog-proof"
        dl.value.save_as(receipt)

        page.click("nav >> text=History")
        first_row = page.locator("tbody tr").first
        assert "withdrawn" in first_row.inner_text()
        assert "this privacy center" in first_row.inner_text()
        screenshot(page, "center-history.png")

        page.click("nav >> text=Where my data went")
        assert page.locator("main table").count() >= 1
        screenshot(page, "center-data.png")
        page.click("nav >> text=Download my data")
        screenshot(page, "center-download.png")

        page.click("nav >> text=Verify it yourself")
        screenshot(page, "center-verify.png")
        with page.expect_download() as dl:
            page.click("text=Save the offline verifier")
        verifier = tmp_path / "verifier.html"
        dl.value.save_as(verifier)
        with page.expect_download() as dl:
            page.click("text=download it")
        key = tmp_path / "log.pub"
        dl.value.save_as(key)
        assert all(r.startswith(server.url) for r in requests), requests

    # the saved verifier, opened from disk in a fresh context, makes no request
    with browsing(browser) as (_, page, requests):
        page.goto(verifier.as_uri())
        page.wait_for_selector("body[data-ready=true]")
        page.set_input_files("#key-file", str(key))
        page.set_input_files("#proof-file", str(receipt))
        page.wait_for_selector("#key-loaded:not(:empty)")
        page.wait_for_selector("#proof-loaded:not(:empty)")
        page.click("#verify")
        page.wait_for_selector("#summary[data-outcome]:not([data-outcome=''])")
        assert page.locator("#summary").get_attribute("data-outcome") == "valid"
        headline = page.locator("#headline").inner_text()
        assert "member e1 withdrew consent" in headline and "ai_training_posts" in headline
        assert set(requests) == {verifier.as_uri()}, requests


def test_global_privacy_control_is_honoured(browser: Browser, server: Server) -> None:
    with browsing(browser, extra_http_headers={"Sec-GPC": "1"}) as (_, page, _requests):
        sign_in(page, server, "e2")
        gpc = page.locator("#gpc")
        assert "Global Privacy Control is on" in gpc.inner_text()
        assert "Share my private messages with partners" in gpc.inner_text()
        state = page.locator("#state-ai_training_messages_partners").inner_text()
        assert state == "You refused this"
        screenshot(page, "center-gpc.png")
        page.reload()
    denies = [e for e in _events(server, "e2") if e.source == "gpc"]
    assert [(e.type.value, e.setting) for e in denies] == [
        ("deny", "ai_training_messages_partners")
    ]


def test_the_toggle_works_without_javascript(browser: Browser, server: Server) -> None:
    with browsing(browser, java_script_enabled=False) as (_, page, _requests):
        sign_in(page, server, "u1")
        before = len(_events(server, "u1"))
        assert page.locator("#state-personalize_feed").inner_text().startswith("Allowed by default")
        page.click("text=Turn off: Personalise my feed using my activity")
        page.wait_for_url("**/me/receipt?**")
        assert page.locator("pre.receipt").inner_text().strip()
        page.goto(f"{server.url}/me")
        assert page.locator("#state-personalize_feed").inner_text() == "You refused this"
    after = _events(server, "u1")
    assert len(after) == before + 1 and after[-1].source == "web"


PAGES = ["/login", "/me", "/me/history", "/me/data", "/me/download", "/me/verify"]


def test_no_serious_accessibility_violations_on_any_page(browser: Browser, server: Server) -> None:
    """axe-core (vendored, checked against its published hash) on every page. The context
    bypasses the pages' CSP only to inject axe (the pages themselves run no script)."""
    source = AXE.read_bytes()
    assert base64.b64encode(hashlib.sha256(source).digest()).decode() == AXE_SHA256
    found_all: dict[str, list[dict[str, Any]]] = {}
    with browsing(browser, bypass_csp=True) as (_, page, _requests):
        page.goto(f"{server.url}/login")
        pages = list(PAGES)
        sign_in(page, server, "e1")
        event = _events(server, "e1")[0].event_id
        pages.append(f"/me/receipt?event_id={event}")
        pages.append(f"/me/data/proof?dataset_id={_dataset(server)}")
        for path in pages:
            if path == "/login":
                continue
            page.goto(f"{server.url}{path}")
            if path.startswith("/me/data/proof"):
                assert "is IN" in page.locator("main").inner_text()
                screenshot(page, "center-proof.png")
            found_all[path] = _axe(page, source)
        page.context.clear_cookies()
        page.goto(f"{server.url}/login")
        found_all["/login"] = _axe(page, source)
    serious = {
        p: [v for v in f if v["impact"] in ("serious", "critical")] for p, f in found_all.items()
    }
    assert not any(serious.values()), serious
    assert not any(found_all.values()), found_all  # and, today, none of lower impact either
    assert set(found_all) == set(pages) and len(pages) == len(PAGES) + 2


def _axe(page: Page, source: bytes) -> list[dict[str, Any]]:
    page.add_script_tag(content=source.decode("utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.length}));
      }"""
    )
    return found
