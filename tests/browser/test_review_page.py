"""The review page in a real browser: check an image, approve and reject quarantined ones, stay safe.

Each test drives headless Chromium against the page running on a moto server; what the page
did is then checked where it matters: in the bucket and in the decisions ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.builders import jpeg_bytes, png_bytes
from tests.integration.fake_imagga import BLUE, GREEN, RED

from .conftest import MOTO_CALLER, Browser, RunningApp, Stack, serve

pytestmark = pytest.mark.integration

UNSAFE = {"nsfw": 91.4, "underwear": 6.1, "safe": 2.5}
REVIEW = {"nsfw": 3.2, "underwear": 64.8, "safe": 32.0}
SAFE = {"nsfw": 0.4, "underwear": 1.1, "safe": 98.5}
MALICIOUS_KEY = "<img src=x onerror=alert(1)>.jpg"


@pytest.fixture(autouse=True)
def answers(stack: Stack) -> None:
    stack.imagga.answer_for_colour(RED, UNSAFE)
    stack.imagga.answer_for_colour(BLUE, REVIEW)
    stack.imagga.answer_for_colour(GREEN, SAFE)


def _row(page: Any, text: str) -> Any:
    return page.get_by_role("row").filter(has_text=text)


def test_checking_an_uploaded_file_shows_each_score_and_the_verdict(
    stack: Stack, review_app: RunningApp, browser: Browser, tmp_path: Path, screenshot: Any
) -> None:
    # GIVEN an image file on the moderator's machine that Imagga finds unsafe
    image = tmp_path / "beach.png"
    image.write_bytes(png_bytes(width=320, height=240, color=RED))
    page = browser.page
    page.goto(f"{review_app.url}/check")

    # WHEN the moderator chooses it and presses Check
    page.get_by_label("Image file").set_input_files(str(image))
    page.get_by_role("button", name="Check").click()

    # THEN the page shows the verdict under the current thresholds and every label's score as a bar
    assert page.get_by_test_id("verdict").inner_text() == "UNSAFE"
    scores = page.get_by_role("list", name="Scores of beach.png")
    assert scores.locator("meter").count() == 3
    assert scores.get_by_role("meter", name="nsfw 91.40%").is_visible()
    assert page.get_by_text("UNSAFE when nsfw ≥ 20.0%").is_visible()
    # AND the image is shown blurred until the moderator asks to see it
    reveal = page.locator("button.reveal")
    assert reveal.get_attribute("aria-pressed") == "false"
    # AND Imagga was asked once, and nothing was stored in the bucket
    assert len(stack.imagga.requests(path_prefix="/v2/categories")) == 1
    assert stack.keys() == []
    screenshot(page, "check")


def test_approving_a_quarantined_image_puts_it_back_at_its_original_key_as_approved(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    # GIVEN an image the function quarantined
    outcome = stack.upload_and_moderate("uploads/party.jpg", jpeg_bytes(color=RED))
    assert outcome.quarantine_key == "quarantine/uploads/party.jpg"
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")
    row = _row(page, "uploads/party.jpg")
    assert row.get_by_role("meter", name="nsfw 91.40%").is_visible()

    # WHEN the moderator reveals it with the keyboard, then presses Approve
    row.locator("button.reveal").focus()
    page.keyboard.press("Enter")
    assert row.locator("button.reveal").get_attribute("aria-pressed") == "true"
    row.get_by_role("button", name="Approve").click()

    # THEN the page says so and the quarantine no longer lists it
    expect(page.get_by_role("status")).to_contain_text("Approved: ")
    assert _row(page, "uploads/party.jpg").count() == 0
    # AND the object is back at its original key, tagged APPROVED, its scores kept
    assert stack.keys() == ["uploads/party.jpg"]
    tags = stack.tags("uploads/party.jpg")
    assert tags["moderation:status"] == "APPROVED"
    assert tags["moderation:nsfw"] == "91.40"
    # AND the ledger records the decision and the reviewer's AWS identity on the scan that quarantined it
    (decision,) = stack.decisions("uploads/party.jpg")
    assert decision["status"]["S"] == "APPROVED"
    assert decision["decided_by"]["S"] == MOTO_CALLER
    assert decision["scanned_at"]["S"] == outcome.scanned_at


def test_rejecting_a_quarantined_image_after_confirmation_deletes_it(
    stack: Stack, review_app: RunningApp, browser: Browser, screenshot: Any
) -> None:
    # GIVEN an image the function quarantined
    stack.upload_and_moderate("uploads/spam.jpg", jpeg_bytes(color=RED))
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")

    # WHEN the moderator presses Reject, reads the confirmation, and confirms
    _row(page, "uploads/spam.jpg").get_by_role("link", name="Reject…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject uploads/spam.jpg?")
    assert stack.keys() == ["quarantine/uploads/spam.jpg"]  # nothing happens before the confirmation
    screenshot(page, "reject")
    page.get_by_role("button", name="Delete for good").click()

    # THEN it is gone, every version, and the ledger names the reviewer
    expect(page.get_by_role("status")).to_contain_text("REJECTED: ")
    assert stack.keys() == []
    (decision,) = stack.decisions("uploads/spam.jpg")
    assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("REJECTED", MOTO_CALLER)


def test_needs_review_lists_review_objects_newest_first_and_approves_them_where_they_are(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    # GIVEN two images the function marked REVIEW (left in place) and a safe one
    stack.upload_and_moderate("uploads/older.jpg", jpeg_bytes(color=BLUE), scanned_at="2026-03-01T09:00:00Z")
    stack.upload_and_moderate("uploads/newer.jpg", jpeg_bytes(color=BLUE), scanned_at="2026-03-02T09:00:00Z")
    stack.upload_and_moderate("uploads/fine.jpg", jpeg_bytes(color=GREEN), scanned_at="2026-03-03T09:00:00Z")
    page = browser.page

    # WHEN the moderator opens Needs review
    page.goto(review_app.url)
    page.get_by_role("navigation").get_by_role("link", name="Needs review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Needs review")

    # THEN the REVIEW objects are listed newest first, the safe one not at all
    keys = page.locator("tbody .key").all_inner_texts()
    assert keys == ["uploads/newer.jpg", "uploads/older.jpg"]

    # WHEN the moderator approves the newer one
    _row(page, "uploads/newer.jpg").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved in place: ")

    # THEN it stays where it is, tagged APPROVED, the ledger records the reviewer, and it leaves the list
    assert stack.tags("uploads/newer.jpg")["moderation:status"] == "APPROVED"
    (decision,) = stack.decisions("uploads/newer.jpg")
    assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("APPROVED", MOTO_CALLER)
    assert page.locator("tbody .key").all_inner_texts() == ["uploads/older.jpg"]


def test_a_key_made_of_html_renders_as_text(stack: Stack, review_app: RunningApp, browser: Browser) -> None:
    # GIVEN a quarantined object whose key is markup with a script in it
    stack.upload_and_moderate(MALICIOUS_KEY, jpeg_bytes(color=RED))
    page = browser.page

    # WHEN the moderator opens the quarantine and the reject confirmation of that object
    page.goto(f"{review_app.url}/quarantine")
    listed = page.locator("tbody .key").first.inner_text()
    page.get_by_role("link", name="Reject…").click()
    expect(page).to_have_url(re.compile(r"/reject\?"))
    confirmation = page.get_by_role("heading", level=1).inner_text()

    # THEN the key is shown as the text it is, no element was injected and no script ran
    assert listed == MALICIOUS_KEY
    assert confirmation == f"Reject {MALICIOUS_KEY}?"
    assert page.locator("img[src='x']").count() == 0
    assert browser.dialogs == []


@pytest.fixture
def attacker(review_app: RunningApp, stack: Stack) -> Iterator[str]:
    """Another site, on another origin, whose page posts an Approve form to the review page."""
    site = Flask("attacker")

    @site.get("/")
    def forged() -> str:
        return (
            f'<form id="f" method="post" action="{review_app.url}/approve">'
            f'<input name="bucket" value="{stack.bucket}"><input name="key" value="quarantine/uploads/evil.jpg">'
            '</form><script>document.getElementById("f").submit()</script>'
        )

    for url in serve(site):
        yield url.replace("127.0.0.1", "localhost")


def test_a_forged_cross_site_form_post_is_refused(
    stack: Stack, review_app: RunningApp, browser: Browser, attacker: str
) -> None:
    # GIVEN a quarantined image, and a moderator who has the review page open
    stack.upload_and_moderate("uploads/evil.jpg", jpeg_bytes(color=RED))
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")

    # WHEN the moderator visits another site whose page posts an Approve form to the review page
    with page.expect_navigation(url=f"{review_app.url}/approve"):
        page.goto(attacker)

    # THEN the review page refuses it, and the image stays in quarantine, unapproved
    assert page.get_by_role("heading", level=1).inner_text() == "Refused"
    assert stack.keys() == ["quarantine/uploads/evil.jpg"]
    assert stack.tags("quarantine/uploads/evil.jpg")["moderation:status"] == "UNSAFE"
    (decision,) = stack.decisions("uploads/evil.jpg")
    assert "decided_by" not in decision
