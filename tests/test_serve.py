"""``consentgate serve`` as a real process on loopback: JSON logs without paths or member
ids, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from service_world import HS_SECRET, member_token


def test_serve_answers_then_stops_cleanly_on_sigterm(
    world: Path, db_url: str, tmp_path: Path
) -> None:
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(HS_SECRET)
    env = {
        **os.environ,
        "CONSENTGATE_KEY_DIR": str(tmp_path / "keys"),
        "CONSENTGATE_SERVICE_JWT_KEY": str(secret),
        "CONSENTGATE_SERVICE_SHUTDOWN_SECONDS": "5",
    }
    code = "from consentgate.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--db", db_url, "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        port = None
        for _ in range(200):  # bounded: start-up logs a handful of lines
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port is not None, lines
        base = f"http://127.0.0.1:{port}"
        me = {"Authorization": f"Bearer {member_token('e1')}"}
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/readyz").json() == {"status": "ready"}
            r = c.post(
                "/api/v1/members/e1/consent",
                json={"type": "withdraw", "setting": "ai_training_posts"},
                headers=me,
            )
            assert r.status_code == 201
            assert c.get("/api/v1/members/e1/history", headers=me).json()["total"] == 3
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
        lines.extend(rest.splitlines(keepends=True))
        # uvicorn shuts down, then re-raises the signal it caught: the usual status for it
        assert proc.returncode == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    records: list[dict[str, Any]] = [json.loads(x) for x in lines if x.strip()]  # all JSON
    routes = [r.get("route") for r in records if r["logger"] == "consentgate.service.access"]
    assert routes == ["readyz", "record_consent", "member_history"]
    messages = [r["msg"] for r in records]
    assert "Shutting down" in messages and any("Finished server process" in m for m in messages)
    text = "".join(lines)
    assert "/members/" not in text and '"e1"' not in text


def test_serve_demo_mounts_the_demo_sign_in(world: Path, db_url: str, tmp_path: Path) -> None:
    """``serve --demo``: the sign-in page answers, says DEMO, and its member session opens
    the privacy center (plain HTTP on loopback, so the cookie is not marked Secure)."""
    env = {
        **os.environ,
        "CONSENTGATE_KEY_DIR": str(tmp_path / "keys"),
        "CONSENTGATE_SERVICE_COOKIE_SECURE": "false",
    }
    code = "from consentgate.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--db", db_url, "serve", "--port", "0", "--demo"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        for _ in range(200):
            line = proc.stderr.readline()
            m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if not line or m:
                port = int(m.group(1)) if m else None
                break
        assert port is not None
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, follow_redirects=True
        ) as c:
            login = c.get("/login")
            assert login.status_code == 200 and "DEMO" in login.text
            r = c.post("/login", data={"role": "member", "member_id": "e1"})
            assert r.status_code == 200 and str(r.url).endswith("/me")
            assert "My privacy settings" in r.text and "DEMO" in r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
