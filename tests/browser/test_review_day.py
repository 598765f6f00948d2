"""A moderator's day on the review page, in a real browser: bulk decisions, the keyboard, long lists, stale rows.

Each test drives headless Chromium against the page running on a moto server, with objects the
function moderated (or, where said, put there as an operator could); what the page did is then
checked in the bucket and in the decisions ledger.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from infra.local.stack import SAMPLES
from PIL import Image
from playwright.sync_api import expect

from tests.builders import jpeg_bytes
from tests.integration.fake_imagga import BLUE, RED, Reply

from .conftest import MOTO_CALLER, Browser, RunningApp, Stack

pytestmark = pytest.mark.integration

UNSAFE = {"nsfw": 91.4, "underwear": 6.1, "safe": 2.5}
REVIEW = {"nsfw": 3.2, "underwear": 64.8, "safe": 32.0}


@pytest.fixture(autouse=True)
def answers(stack: Stack) -> None:
    stack.imagga.answer_for_colour(RED, UNSAFE)
    stack.imagga.answer_for_colour(BLUE, REVIEW)


def _row(page: Any, text: str) -> Any:
    return page.get_by_role("row").filter(has_text=text)


def _keys(page: Any) -> list[str]:
    return [key.strip() for key in page.locator("tbody .key-line .key").all_inner_texts()]


def _red(shade: int) -> tuple[int, int, int]:
    """Reds the fake Imagga finds unsafe, each a picture of its own."""
    return (220 - shade, 20 + shade % 7, 20)


def _later() -> None:
    """S3 times objects to the second: the next object is quarantined in a later second."""
    time.sleep(1.05)


# --- bulk decisions ---------------------------------------------------------------------------------


def test_selected_quarantined_images_are_approved_together_after_one_confirmation(
    stack: Stack, review_app: RunningApp, browser: Browser, screenshot: Any
) -> None:
    # GIVEN three images the function quarantined
    for shade, name in enumerate(("a", "b", "c")):
        stack.upload_and_moderate(f"uploads/{name}.jpg", jpeg_bytes(color=_red(shade)))
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")

    # WHEN the moderator ticks two of them and presses Approve selected
    page.get_by_role("checkbox", name="Select uploads/a.jpg").check()
    page.get_by_role("checkbox", name="Select uploads/c.jpg").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    page.get_by_role("button", name="Approve selected…").click()

    # THEN one confirmation names both, and nothing has moved yet
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve 2 objects?")
    chosen = page.get_by_role("list", name="Objects to approve").locator(".key-line .key").all_inner_texts()
    assert sorted(chosen) == ["uploads/a.jpg", "uploads/c.jpg"]
    assert stack.keys() == ["quarantine/uploads/a.jpg", "quarantine/uploads/b.jpg", "quarantine/uploads/c.jpg"]
    screenshot(page, "bulk-confirm")

    # WHEN the moderator confirms
    page.get_by_role("button", name="Approve 2 objects").click()

    # THEN one line per object says it is back at its original key
    expect(page.get_by_role("heading", level=1)).to_have_text("2 of 2 approved")
    lines = page.get_by_role("list", name="One line per object").get_by_role("listitem").all_inner_texts()
    assert sorted(lines) == [
        f"s3://{stack.bucket}/quarantine/uploads/{name}.jpg — APPROVED: back at s3://{stack.bucket}/uploads/{name}.jpg"
        for name in ("a", "c")
    ]
    screenshot(page, "bulk-done")
    # AND exactly those two are back, tagged APPROVED, and the ledger names the reviewer on each
    assert stack.keys() == ["quarantine/uploads/b.jpg", "uploads/a.jpg", "uploads/c.jpg"]
    for name in ("a", "c"):
        assert stack.tags(f"uploads/{name}.jpg")["moderation:status"] == "APPROVED"
        (decision,) = stack.decisions(f"uploads/{name}.jpg")
        assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("APPROVED", MOTO_CALLER)
    (untouched,) = stack.decisions("uploads/b.jpg")
    assert "decided_by" not in untouched


def test_rejecting_a_whole_page_decides_each_object_on_its_own_and_says_so_for_each(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    # GIVEN three quarantined images on the page
    for shade, name in enumerate(("a", "b", "c")):
        stack.upload_and_moderate(f"uploads/{name}.jpg", jpeg_bytes(color=_red(shade)))
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")

    # WHEN the moderator selects all on the page and asks to reject them
    page.get_by_label("Select all on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.get_by_role("button", name="Reject selected…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject 3 objects?")
    # AND, before the confirmation, other bytes are put at one of the quarantined keys
    stack.s3.put_object(Bucket=stack.bucket, Key="quarantine/uploads/b.jpg", Body=jpeg_bytes(color=BLUE))
    page.get_by_role("button", name="Reject 3 objects").click()

    # THEN the two the moderator saw are deleted; the changed one is left, its own line saying why
    expect(page.get_by_role("heading", level=1)).to_have_text("2 of 3 rejected")
    lines = page.get_by_role("list", name="One line per object").get_by_role("listitem").all_inner_texts()
    by_key = {line.split(" — ")[0].rsplit("/", 1)[1]: line.split(" — ")[1] for line in lines}
    assert by_key["a.jpg"] == by_key["c.jpg"] == "REJECTED: deleted (the version you saw)"
    assert by_key["b.jpg"].startswith("Changed since you looked:")
    assert stack.keys() == ["quarantine/uploads/b.jpg"]
    for name in ("a", "c"):
        (decision,) = stack.decisions(f"uploads/{name}.jpg")
        assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("REJECTED", MOTO_CALLER)
    (kept,) = stack.decisions("uploads/b.jpg")
    assert kept["status"]["S"] == "UNSAFE"


# --- the keyboard -----------------------------------------------------------------------------------


def test_the_keyboard_moves_between_rows_reveals_selects_approves_and_opens_a_rejection(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    # GIVEN two quarantined images
    stack.upload_and_moderate("uploads/first.jpg", jpeg_bytes(color=_red(0)))
    stack.upload_and_moderate("uploads/second.jpg", jpeg_bytes(color=_red(1)))
    page = browser.page
    page.goto(f"{review_app.url}/quarantine")
    rows = page.locator("tr[data-row]")
    top, below = _keys(page)

    # WHEN the moderator presses j, j, k
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("k")

    # THEN the first row is the current one again; space shows its image and x selects it
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press(" ")
    expect(rows.nth(0).locator("button.reveal")).to_have_attribute("aria-pressed", "true")
    expect(rows.nth(1).locator("button.reveal")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("x")
    expect(rows.nth(0).get_by_role("checkbox")).to_be_checked()

    # WHEN the moderator presses r on it / THEN its rejection's confirmation opens (nothing deleted yet)
    page.keyboard.press("r")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Reject {top}?")
    assert len(stack.keys()) == 2

    # WHEN the moderator goes back, moves to the second row and presses a
    page.goto(f"{review_app.url}/quarantine")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("a")

    # THEN that one is approved and back at its original key; the other stays in quarantine
    expect(page.get_by_role("status")).to_contain_text(f"Approved: s3://{stack.bucket}/quarantine/{below}")
    assert stack.keys() == [f"quarantine/{top}", below]


# --- lists that scale -------------------------------------------------------------------------------


def test_the_quarantine_is_listed_newest_first_in_pages_with_a_count(
    stack: Stack, make_app: Any, browser: Browser
) -> None:
    # GIVEN twelve quarantined images, the first one quarantined a second before the others
    app: RunningApp = make_app(page_size=5)
    stack.upload_and_moderate("uploads/z-oldest.jpg", jpeg_bytes(color=_red(0)))
    _later()
    for n in range(11):
        stack.upload_and_moderate(f"uploads/p{n:02}.jpg", jpeg_bytes(color=_red(n + 1)))
    page = browser.page

    # WHEN the moderator opens the quarantine
    page.goto(f"{app.url}/quarantine")

    # THEN a count and the newest five (same second: by key, last first), the oldest not among them
    expect(page.get_by_test_id("count")).to_have_text("12 objects · page 1 of 3")
    assert _keys(page) == [f"uploads/p{n:02}.jpg" for n in (10, 9, 8, 7, 6)]

    # WHEN the moderator goes to the next pages and back
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_test_id("count")).to_have_text("12 objects · page 2 of 3")
    assert _keys(page) == [f"uploads/p{n:02}.jpg" for n in (5, 4, 3, 2, 1)]
    page.get_by_role("link", name="Next page").click()
    # THEN the last page ends with the oldest, though its key sorts last
    assert _keys(page) == ["uploads/p00.jpg", "uploads/z-oldest.jpg"]
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="Previous page").click()
    expect(page.get_by_test_id("count")).to_have_text("12 objects · page 2 of 3")

    # WHEN the page number is garbage, or past the end
    garbage = page.goto(f"{app.url}/quarantine?page=garbage")
    assert garbage is not None and garbage.status == 200
    first = _keys(page)
    page.goto(f"{app.url}/quarantine?page=99")

    # THEN garbage is the first page (not an error) and past the end is the last
    assert first == [f"uploads/p{n:02}.jpg" for n in (10, 9, 8, 7, 6)]
    expect(page.get_by_test_id("count")).to_have_text("12 objects · page 3 of 3")


def test_filters_by_status_prefix_and_date_narrow_the_quarantine(stack: Stack, make_app: Any, browser: Browser) -> None:
    # GIVEN a function that quarantines REVIEW too, and three objects it quarantined one after the other
    stack.env["QUARANTINE_STATUSES"] = "UNSAFE,REVIEW"
    app: RunningApp = make_app(page_size=20, QUARANTINE_STATUSES="UNSAFE,REVIEW")
    stack.upload_and_moderate("cats/a-older.jpg", jpeg_bytes(color=_red(0)))
    _later()
    stack.upload_and_moderate("dogs/b-doubtful.jpg", jpeg_bytes(color=BLUE))
    _later()
    stack.upload_and_moderate("cats/z-newer.jpg", jpeg_bytes(color=_red(1)))
    page = browser.page
    page.goto(f"{app.url}/quarantine")
    assert _keys(page) == ["cats/z-newer.jpg", "dogs/b-doubtful.jpg", "cats/a-older.jpg"]

    # WHEN the moderator filters by status REVIEW
    page.get_by_label("Status").select_option("REVIEW")
    page.get_by_role("button", name="Filter").click()
    # THEN only the doubtful one is listed, and counted
    assert _keys(page) == ["dogs/b-doubtful.jpg"]
    expect(page.get_by_test_id("count")).to_have_text("1 object")

    # WHEN the moderator clears it and filters by a key prefix
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Key starts with").fill("cats/")
    page.get_by_role("button", name="Filter").click()
    # THEN only the keys under it are listed, newest first
    assert _keys(page) == ["cats/z-newer.jpg", "cats/a-older.jpg"]

    # WHEN the moderator asks for objects quarantined from tomorrow on, then from today on
    today = datetime.now(UTC).date()
    page.goto(f"{app.url}/quarantine?from={today + timedelta(days=1)}")
    assert _keys(page) == []
    expect(page.locator("tbody")).to_contain_text("Nothing here for these filters.")
    page.goto(f"{app.url}/quarantine?from={today}&to={today}")
    assert len(_keys(page)) == 3

    # WHEN a filter is not understood / THEN it is ignored, said so, and the list shown whole
    page.goto(f"{app.url}/quarantine?from=yesterday&status=NONSENSE&page=-2")
    expect(page.get_by_role("alert")).to_contain_text("Ignored: status 'NONSENSE'; from date 'yesterday'")
    assert len(_keys(page)) == 3


def test_needs_review_is_filtered_by_the_day_it_was_scanned(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    # GIVEN two REVIEW objects scanned on different days
    stack.upload_and_moderate("uploads/march-1.jpg", jpeg_bytes(color=BLUE), scanned_at="2026-03-01T09:00:00.000Z")
    stack.upload_and_moderate("uploads/march-5.jpg", jpeg_bytes(color=BLUE), scanned_at="2026-03-05T09:00:00.000Z")
    page = browser.page

    # WHEN the moderator asks for those scanned from March 3rd, then up to March 3rd
    page.goto(f"{review_app.url}/review?from=2026-03-03")
    later = _keys(page)
    page.goto(f"{review_app.url}/review?to=2026-03-03")

    # THEN each filter keeps the one of its days
    assert later == ["uploads/march-5.jpg"]
    assert _keys(page) == ["uploads/march-1.jpg"]


# --- stale rows ---------------------------------------------------------------------------------------


def test_a_review_row_whose_object_is_gone_is_marked_and_can_be_dismissed_without_deleting_anything(
    stack: Stack, review_app: RunningApp, browser: Browser, screenshot: Any
) -> None:
    # GIVEN three REVIEW objects left in place: one deleted since, one overwritten by a newer upload
    for name in ("gone", "replaced", "here"):
        stack.upload_and_moderate(f"uploads/{name}.jpg", jpeg_bytes(color=BLUE))
    stack.s3.delete_object(Bucket=stack.bucket, Key="uploads/gone.jpg")
    stack.s3.put_object(Bucket=stack.bucket, Key="uploads/replaced.jpg", Body=b"newer bytes, not yet moderated")
    page = browser.page

    # WHEN the moderator opens Needs review
    page.goto(f"{review_app.url}/review")

    # THEN the gone and the replaced rows say so, offer Dismiss and no decision; the other is as usual
    gone, replaced, here = (_row(page, f"uploads/{name}.jpg") for name in ("gone", "replaced", "here"))
    expect(gone).to_contain_text("The object is gone: nothing is left to approve or reject.")
    expect(replaced).to_contain_text("A newer upload replaced it")
    for stale in (gone, replaced):
        assert stale.get_by_role("button", name="Approve").count() == 0
        assert stale.get_by_role("link", name="Reject…").count() == 0
        assert stale.locator("img").count() == 0
    assert here.get_by_role("button", name="Dismiss").count() == 0
    expect(here.get_by_role("button", name="Approve")).to_be_visible()
    screenshot(page, "review-stale")

    # WHEN the moderator dismisses the gone one
    gone.get_by_role("button", name="Dismiss").click()

    # THEN it leaves the list; the ledger keeps the scan, marked DISMISSED with who, when and why
    expect(page.get_by_role("status")).to_contain_text("Dismissed: the scan of s3://")
    assert _row(page, "uploads/gone.jpg").count() == 0
    (item,) = stack.decisions("uploads/gone.jpg")
    assert item["status"]["S"] == "DISMISSED"
    assert (item["decided_by"]["S"], item["dismissed_because"]["S"]) == (MOTO_CALLER, "object-gone")
    assert item["verdict"]["S"] == "REVIEW"
    # AND nothing was deleted or changed in the bucket
    assert stack.keys() == ["uploads/here.jpg", "uploads/replaced.jpg"]
    assert stack.s3.get_object(Bucket=stack.bucket, Key="uploads/replaced.jpg")["Body"].read().startswith(b"newer")


# --- the overview -------------------------------------------------------------------------------------

#: A stack with the template's three queue outputs (CloudFormation on the moto server creates it).
QUEUES_TEMPLATE = """
Resources:
  IngestQueue: {Type: "AWS::SQS::Queue"}
  BackfillQueue: {Type: "AWS::SQS::Queue"}
  DeadLetterQueue: {Type: "AWS::SQS::Queue"}
Outputs:
  QueueUrl: {Value: {Ref: IngestQueue}}
  BackfillQueueUrl: {Value: {Ref: BackfillQueue}}
  DeadLetterQueueUrl: {Value: {Ref: DeadLetterQueue}}
"""


def test_the_overview_counts_each_days_verdicts_calls_and_what_waits(
    stack: Stack, make_app: Any, browser: Browser, screenshot: Any
) -> None:
    # GIVEN a week of moderation: verdicts of each kind on three days
    today = datetime.now(UTC).date()
    day = {n: (today - timedelta(days=n)).isoformat() for n in (0, 2, 3)}
    stack.imagga.answer_for_colour((128, 128, 128), Reply.error(400, "The image could not be processed."))
    stack.upload_and_moderate("a/unsafe-1.jpg", jpeg_bytes(color=_red(0)), scanned_at=f"{day[0]}T08:00:00.000Z")
    stack.upload_and_moderate("a/unsafe-2.jpg", jpeg_bytes(color=_red(1)), scanned_at=f"{day[0]}T09:00:00.000Z")
    stack.upload_and_moderate("a/safe.jpg", jpeg_bytes(color=(30, 170, 60)), scanned_at=f"{day[0]}T10:00:00.000Z")
    stack.upload_and_moderate("a/notes.txt", b"not an image at all", scanned_at=f"{day[0]}T11:00:00.000Z")
    stack.upload_and_moderate("a/doubtful.jpg", jpeg_bytes(color=BLUE), scanned_at=f"{day[2]}T12:00:00.000Z")
    stack.upload_and_moderate("a/refused.jpg", jpeg_bytes(color=(128, 128, 128)), scanned_at=f"{day[3]}T13:00:00.000Z")
    imagga_calls = len(stack.imagga.requests(path_prefix="/v2/categories"))
    # AND the deployed stack's queues: three messages waiting, two backfill tasks, one in the dead-letter queue
    cloudformation = boto3.client("cloudformation", endpoint_url=stack.endpoint, region_name="us-east-1")
    name = f"moderator-{stack.bucket}"
    cloudformation.create_stack(StackName=name, TemplateBody=QUEUES_TEMPLATE)
    (described,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    outputs = {out["OutputKey"]: out["OutputValue"] for out in described["Outputs"]}
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name="us-east-1")
    for body in ("1", "2", "3"):
        sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=body)
    for body in ("task 1", "task 2"):
        sqs.send_message(QueueUrl=outputs["BackfillQueueUrl"], MessageBody=body)
    sqs.send_message(QueueUrl=outputs["DeadLetterQueueUrl"], MessageBody="failed")
    app: RunningApp = make_app(stack_name=name)
    page = browser.page

    # WHEN the moderator opens the review page
    page.goto(app.url)

    # THEN the overview is its first page: what waits for review and in quarantine, Imagga's calls and plan
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    assert page.get_by_test_id("waiting").inner_text() == "1"
    assert page.get_by_test_id("quarantined").inner_text() == "2"
    assert page.get_by_test_id("imagga-calls").inner_text() == str(imagga_calls) == "5"
    assert page.get_by_test_id("limit-remaining").inner_text() == "990"
    screenshot(page, "overview")
    # AND each day's verdicts, as figures (under "The figures") and as bars drawn on the server (a title on each)
    page.get_by_text("The figures").click()
    figures = page.get_by_test_id("figures")
    assert figures.locator("thead th").all_inner_texts() == [
        "Day", "SAFE", "REVIEW", "UNSAFE", "UNSUPPORTED", "ERROR", "Imagga calls", "Remaining",
    ]  # fmt: skip
    rows = {tr.locator("th").inner_text(): tr.locator("td").all_inner_texts() for tr in figures.locator("tr").all()[1:]}
    assert len(rows) == 30
    assert rows[day[0]] == ["1", "0", "2", "1", "0", "3", "990"]
    assert rows[day[2]] == ["0", "1", "0", "0", "0", "1", "990"]
    assert rows[day[3]] == ["0", "0", "0", "0", "1", "1", "—"]
    chart = page.get_by_test_id("verdict-chart")
    assert chart.locator("rect.v-UNSAFE title").all_text_contents() == [f"{day[0]}: 2 UNSAFE"]
    assert chart.locator("rect").count() == 5  # one per day and verdict present
    # AND the queues' depth, read through the stack's outputs
    assert page.get_by_test_id("queue-1").inner_text() == "3"
    assert page.get_by_test_id("queue-2").inner_text() == "2"
    assert page.get_by_test_id("queue-3").inner_text() == "1"
    queue_names = page.get_by_test_id("queue-1").locator("xpath=../../tr/th").all_inner_texts()
    assert queue_names == ["Ingest queue", "Backfill queue", "Dead-letter queue"]
    # AND nothing was loaded from elsewhere: the page has no script but its own
    assert [s.get_attribute("src") for s in page.locator("script").all()] == ["/static/review.js"]


# --- scores at a glance -------------------------------------------------------------------------------


def _pixel(locator: Any, at: float) -> tuple[int, int, int]:
    """The colour of an element at `at` of its width, halfway down, as the browser drew it."""
    with Image.open(io.BytesIO(locator.screenshot())) as shot:
        rgb = shot.convert("RGB")
        pixel = rgb.getpixel((int(rgb.width * at), rgb.height // 2))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def test_scores_read_at_a_glance_and_neither_a_score_nor_a_key_can_stretch_the_page(
    stack: Stack, review_app: RunningApp, browser: Browser, tmp_path: Path, screenshot: Any
) -> None:
    # GIVEN an image the function quarantined, and one put in quarantine by hand with a 300-character key
    # and score tags that are not scores (as anyone allowed to tag could write them)
    stack.upload_and_moderate("uploads/party.jpg", jpeg_bytes(color=RED))
    long_key = ("uploads/" + "a-very-long-folder-name/" * 13)[:296] + ".jpg"
    assert len(long_key) == 300
    forged = {
        "moderation:status": "UNSAFE",
        "moderation:nsfw": "nan",
        "moderation:underwear": "1e308",
        "moderation:safe": "-50",
        "moderation:racy": "inf",
    }
    stack.s3.put_object(
        Bucket=stack.bucket, Key=f"quarantine/{long_key}", Body=jpeg_bytes(color=RED), Tagging=urlencode(forged)
    )
    page = browser.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=review_app.url)

    # WHEN the moderator opens the quarantine
    page.goto(f"{review_app.url}/quarantine")
    row = page.locator("tr[data-row]").filter(has_text=long_key[:60])

    # THEN the forged scores show as invalid with a short excerpt: no meter, no "nan%", no 309-digit number
    assert row.locator(".scores .invalid").all_inner_texts() == ["invalid"] * 4
    assert row.locator(".scores .raw").all_inner_texts() == ["nan", "1e308", "-50", "inf"]
    assert row.get_by_role("meter").count() == 0
    assert "nan%" not in page.content() and "inf%" not in page.content()
    # AND nothing is wider than the window, and the 300-character key keeps its row short
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    box = row.bounding_box()
    assert box is not None and box["height"] < 220, box
    # AND the whole key is there on hover, and its Copy button copies all of it
    key = row.locator(".key-line .key")
    assert key.get_attribute("title") == long_key
    row.get_by_role("button", name="Copy the key").click()
    expect(row.get_by_role("button", name="Copy the key")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == long_key

    # AND on the function's own row the label that decided is marked, and unsafe labels are drawn red
    party = _row(page, "uploads/party.jpg")
    deciding = party.locator(".scores li.deciding")
    assert deciding.locator(".label").inner_text().startswith("nsfw")
    expect(deciding).to_contain_text("decided the verdict")
    red, green, _ = _pixel(party.get_by_role("meter", name="nsfw 91.40%"), 0.5)
    assert red > green + 60, (red, green)
    screenshot(page, "quarantine-scores")

    # WHEN a safe picture is checked
    image = tmp_path / "meadow.jpg"
    image.write_bytes(jpeg_bytes(color=(30, 170, 60)))
    page.goto(f"{review_app.url}/check")
    page.get_by_label("Image file").set_input_files(str(image))
    page.get_by_role("button", name="Check").click()

    # THEN its safe score is drawn green, and the verdict is SAFE
    assert page.get_by_test_id("verdict").inner_text() == "SAFE"
    red, green, _ = _pixel(page.get_by_role("meter", name="safe 99.20%"), 0.5)
    assert green > red + 40, (red, green)


# --- content memory -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """What content memory keeps of a rejected image (its read API's `RejectedImage`)."""

    sha256: str
    location: str
    rejected_at: str
    rejected_by: str
    preview: bytes | None


@dataclass
class FakeMemory:
    """Content memory's read side, answering for the images it was given."""

    images: dict[str, Rejected]
    asked: list[str] = field(default_factory=list)

    def rejected(self, sha256: str) -> Rejected | None:
        self.asked.append(sha256)
        return self.images.get(sha256)


def test_reused_scores_and_a_match_with_a_rejected_image_are_shown_both_images_blurred(
    stack: Stack, make_app: Any, browser: Browser, screenshot: Any
) -> None:
    # GIVEN a rejected image content memory keeps, with a small preview
    preview = jpeg_bytes(width=160, height=120, color=_red(3))
    sha = hashlib.sha256(b"the rejected upload's bytes").hexdigest()
    memory = FakeMemory({sha: Rejected(sha, "s3://photos/uploads/first.jpg", "2026-11-02T10:00:00Z", "alice", preview)})
    app: RunningApp = make_app(memory=memory)
    # AND two quarantined uploads whose ledger items say: one matched it, one got scores obtained earlier
    matched = stack.upload_and_moderate("uploads/again.jpg", jpeg_bytes(color=_red(4)))
    stack.annotate(
        matched,
        reason={"S": "matches-rejected"},
        matched_sha256={"S": sha},
        matched_distance={"N": "6"},
        matched_location={"S": "s3://photos/uploads/first.jpg"},
    )
    reused = stack.upload_and_moderate("uploads/same-bytes.jpg", jpeg_bytes(color=_red(5)))
    stack.annotate(reused, reused_from={"S": "2026-11-20T08:30:00.000Z"})
    page = browser.page

    # WHEN the moderator opens the quarantine
    page.goto(f"{app.url}/quarantine")

    # THEN the reused scores say from when
    expect(_row(page, "uploads/same-bytes.jpg")).to_contain_text("Scores reused from 2026-11-20 08:30 UTC")
    # AND the match names the rejected image and its distance, the two images side by side, both blurred
    row = _row(page, "uploads/again.jpg")
    expect(row).to_contain_text("Matches a rejected image (distance 6) · s3://photos/uploads/first.jpg")
    pair = row.get_by_label("This image and the rejected one it matches")
    images = pair.locator("img")
    assert images.count() == 2
    assert pair.locator("button.reveal[aria-pressed='false']").count() == 2
    assert all("blur" in image.evaluate("i => getComputedStyle(i).filter") for image in images.all())
    # AND the rejected one's picture is the preview memory kept, served by the page as a JPEG it made
    rejected = images.nth(1)
    assert rejected.get_attribute("src") == f"/rejected-preview?sha256={sha}"
    expect(rejected).to_have_js_property("complete", True)
    assert rejected.evaluate("i => i.naturalWidth") > 0
    answer = page.request.get(f"{app.url}/rejected-preview?sha256={sha}")
    assert (answer.status, answer.headers["content-type"]) == (200, "image/jpeg")
    assert sha in memory.asked
    # AND no score of the match is marked as deciding: a human's rejection decided it
    assert row.locator(".scores li.deciding").count() == 0
    screenshot(page, "quarantine-memory")

    # WHEN the page reads the decisions table's own memory, which has no record of that image
    plain: RunningApp = make_app()
    page.goto(f"{plain.url}/quarantine")
    # THEN the match is still named, and "no preview" stands where the rejected image would be
    row = _row(page, "uploads/again.jpg")
    expect(row).to_contain_text("Matches a rejected image (distance 6)")
    expect(row.get_by_label("This image and the rejected one it matches")).to_contain_text("no preview")
    assert row.locator("img").count() == 1
    assert page.request.get(f"{plain.url}/rejected-preview?sha256={sha}").status == 404


def test_a_rejection_on_the_page_follows_the_image_and_its_half_size_copy_shows_both_side_by_side(
    stack: Stack, review_app: RunningApp, browser: Browser
) -> None:
    """The real content memory in the decisions table: no fake in between."""
    # GIVEN a photograph the function quarantined, and another uploaded twice under two names
    stack.imagga.answer(UNSAFE)
    photo = (SAMPLES / "chelsea.jpg").read_bytes()
    stack.upload_and_moderate("uploads/cat.jpg", photo)
    stack.upload_and_moderate("uploads/rocket.jpg", (SAMPLES / "astronaut.jpg").read_bytes())
    _later()
    stack.upload_and_moderate("uploads/rocket-again.jpg", (SAMPLES / "astronaut.jpg").read_bytes())
    page = browser.page

    # WHEN the moderator rejects the first photograph on the page
    page.goto(f"{review_app.url}/quarantine")
    _row(page, "uploads/cat.jpg").get_by_role("link", name="Reject…").click()
    page.get_by_role("button", name="Delete for good").click()
    expect(page.get_by_role("status")).to_contain_text("REJECTED: ")
    # AND it comes back at half its size under another name
    with Image.open(io.BytesIO(photo)) as image:
        smaller = io.BytesIO()
        image.resize((image.width // 2, image.height // 2)).save(smaller, "JPEG", quality=80)
    calls = len(stack.imagga.requests("POST"))
    outcome = stack.upload_and_moderate("uploads/kitten.jpg", smaller.getvalue())

    # THEN the function quarantined it as a match of the rejected image, without asking Imagga
    assert (outcome.reason, len(stack.imagga.requests("POST"))) == ("matches-rejected", calls)
    # AND the page names the match and shows the rejected image's preview beside it
    page.goto(f"{review_app.url}/quarantine")
    row = _row(page, "uploads/kitten.jpg")
    expect(row).to_contain_text("Matches a rejected image (distance")
    expect(row).to_contain_text("s3://" + stack.bucket + "/uploads/cat.jpg")
    pair = row.get_by_label("This image and the rejected one it matches")
    assert pair.locator("img").count() == 2
    rejected = pair.locator("img").nth(1)
    expect(rejected).to_have_js_property("complete", True)
    assert rejected.evaluate("i => i.naturalWidth") > 0
    answer = page.request.get(f"{review_app.url}{rejected.get_attribute('src')}")
    assert (answer.status, answer.headers["content-type"]) == (200, "image/jpeg")
    # AND the photograph uploaded twice says its scores were reused, from the first upload's scan
    expect(_row(page, "uploads/rocket-again.jpg")).to_contain_text("Scores reused from")
    expect(_row(page, "uploads/rocket.jpg")).not_to_contain_text("Scores reused from")
