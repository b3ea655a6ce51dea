"""The key flow in a real headless Chromium (Debian's, driven by Playwright): sign in, claim,
add a note, resolve with an outcome, see the case leave the queue. Screenshots go to the
test's tmp folder.

`scripts/browser` installs Debian's chromium when it is missing (it never downloads a browser
build of its own); when it cannot, these tests skip by hand and fail under `make test`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from carepulse.alert import Severity
from tests.alerts.factories import alert
from tests.alerts.web_fixtures import PASSWORDS, Team, build

ROOT = Path(__file__).resolve().parents[2]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed by scripts/browser if needed."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "browser")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = f"no browser: {result.stderr.strip()}"
        if os.environ.get("CAREPULSE_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Team, str]]:
    """The app on a real port (uvicorn in a thread)."""
    team = build(tmp_path)
    team.store.ingest([alert("vitals.fever", subject_id="1c2d" * 8, severity=Severity.FOLLOW_UP)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(team.app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield team, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        team.store.engine.dispose()


def test_sign_in_claim_note_resolve_in_chromium(
    chromium: str, served: tuple[Team, str], tmp_path: Path
) -> None:
    """A social worker works one case end to end on a tablet-sized screen."""
    from playwright.sync_api import expect, sync_playwright

    team, url = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        # launch() gives every run a fresh, empty profile of its own (no --user-data-dir needed).
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768}, locale="zh-CN")
            page.goto(f"{url}/")
            expect(page).to_have_url(f"{url}/login?next=%2F")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORDS["alice"])
            page.click("button[type=submit].primary")
            expect(page.locator("table.queue")).to_contain_text("王秀英")
            expect(page.locator("#live")).to_be_visible()
            page.screenshot(path=str(shots / "1-queue-zh.png"), full_page=True)

            # Live update: a new emergency appears without reloading.
            team.store.ingest(
                [
                    alert(
                        "news2.high",
                        subject_id="1c2d" * 8,
                        severity=Severity.EMERGENCY,
                        reason="Early-warning score (NEWS2) is 8; phone the resident now.",
                    )
                ]
            )
            expect(page.locator("table.queue tbody tr").first).to_contain_text(
                "紧急", timeout=10_000
            )

            page.click("a[href^='/lang/en']")
            row = page.locator("tr", has_text="BP 182/112").or_(
                page.locator("tr", has_text="Blood pressure")
            )
            row.first.locator("button", has_text="Claim").click()
            expect(page.locator("#case-state")).to_have_text("Claimed")
            page.fill(
                "textarea[name=text]", "Called: daughter will bring her to the station at 4 pm."
            )
            page.click("#add-note")
            expect(page.locator("#history")).to_contain_text("daughter will bring her")
            page.screenshot(path=str(shots / "2-case-en.png"), full_page=True)
            page.check("input[name=outcome][value=home_visit]")
            page.click("#resolve")
            expect(page).to_have_url(f"{url}/")
            expect(page.locator("table.queue")).not_to_contain_text("王秀英")
            expect(page.locator("table.queue")).to_contain_text("NEWS2")
            page.screenshot(path=str(shots / "3-queue-after-en.png"), full_page=True)
        finally:
            browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-queue-zh.png",
        "2-case-en.png",
        "3-queue-after-en.png",
    ]
    print(f"screenshots: {shots}")  # noqa: T201 - where to look at them
