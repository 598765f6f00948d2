"""One Imagga budget for the whole local stack: live uploads, a backfill and S3 Batch Operations together.

The stack runs two event source mappings (the live queue and the backfill queue, two pollers
each: four "containers"), and the Imagga emulator refuses (429) any call beyond its concurrency
limit, which is the budget. What these tests show is what the emulator saw: how many calls were
in progress at once, and whether it ever had to refuse one.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest
from infra.local.batch_operations import play_batch_operations, task_event
from infra.local.stack import LocalStack
from tests.builders import png_bytes
from tests.cli.conftest import Cli
from tests.e2e.conftest import FAST_IMAGGA_ENV

from moderator.imaging import prepare
from moderator.wiring import build_services

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUDGET = 2
#: Imagga's time per call in these tests: long enough that the calls, not this machine, set the pace.
CALL_SECONDS = 0.25
BACKFILL_OBJECTS = 300
LIVE_UPLOADS = 20
#: How soon a live upload must be tagged while the backfill runs: the live queue's long poll (1 s),
#: waiting for one backfill call to end and its own call (2 x CALL_SECONDS), plus S3 -> SQS, reading,
#: downscaling and tagging on this shared 2-core machine (4 s, generous: the machine is shared).
LIVE_BOUND_SECONDS = 1.0 + 2 * CALL_SECONDS + 4.0
#: These tests count Imagga calls, and many objects share one picture: with the content memory on,
#: all but the first would be decided from its scores without a call, so it is off here.
NO_MEMORY_ENV = {**FAST_IMAGGA_ENV, "CONTENT_MEMORY": "off"}


@pytest.fixture
def budget_stack(make_stack: Callable[..., LocalStack]) -> LocalStack:
    return make_stack(
        env=NO_MEMORY_ENV,
        max_concurrency=BUDGET,
        imagga_concurrency_limit=BUDGET,
        imagga_latency=CALL_SECONDS,
        # Two-second visibility timeouts would hide nothing for long: the template's ratio to the timeout.
        function_timeout=30,
        visibility_timeout=40,
    )


def sent_sha(stack: LocalStack, data: bytes) -> str:
    """The SHA-256 of what the function sends Imagga for this image (the downscaled JPEG)."""
    settings = stack.settings()
    return hashlib.sha256(
        prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels).data
    ).hexdigest()


def seed(stack: LocalStack, keys: list[str], data: bytes) -> None:
    """Objects no event announces (outside the incoming prefix), written eight at a time."""
    s3 = stack.boto3_client("s3")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=stack.bucket, Key=key, Body=data), keys))


def status_of(stack: LocalStack, s3: Any, key: str) -> str | None:
    tags = s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"]
    return next((t["Value"] for t in tags if t["Key"] == "moderation:status"), None)


@dataclass
class LiveUpload:
    key: str
    uploaded: float
    tagged: float | None = None
    backfill_done_then: int | None = None

    @property
    def seconds(self) -> float:
        assert self.tagged is not None
        return self.tagged - self.uploaded


@pytest.fixture
def watcher() -> Iterator[Callable[[Callable[[], None]], None]]:
    """Runs a polling function in a thread until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(poll: Callable[[], None]) -> None:
        def loop() -> None:
            while not stop.is_set():
                poll()
                stop.wait(0.05)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)


def test_a_backfill_of_300_and_20_live_uploads_share_the_budget_live_first_with_no_429(
    budget_stack: LocalStack, watcher: Callable[[Callable[[], None]], None]
) -> None:
    stack = budget_stack
    s3 = stack.boto3_client("s3")
    # GIVEN 300 objects that existed before the stack (one picture, 300 keys), and the emulator's
    # concurrency limit at the budget of 2 calls
    old_picture = png_bytes(48, 48, (40, 160, 60))
    stack.register_fixed_scores(old_picture, 2.0)
    backfill_sha = sent_sha(stack, old_picture)
    prefix = f"archive-{uuid.uuid4().hex[:6]}/"
    old_keys = [f"{prefix}{n:03d}.png" for n in range(BACKFILL_OBJECTS)]
    seed(stack, old_keys, old_picture)
    stack.imagga.reset_log()

    def backfill_done() -> int:
        return len(stack.imagga.categorizations(backfill_sha))

    # WHEN the operator backfills them through the stack's backfill queue
    started = time.monotonic()
    queued = Cli(stack)(
        "backfill",
        f"s3://{stack.bucket}/{prefix}",
        "--queue-url",
        stack.backfill_queue_url,
        "--json",
    )
    assert queued.exit_code == 0, queued.output
    assert '"queued": 300' in queued.stdout
    # AND, while it runs, 20 new images are uploaded, one every half second
    live: list[LiveUpload] = []
    lock = threading.Lock()

    def look_at_live_uploads() -> None:
        with lock:
            waiting = [upload for upload in live if upload.tagged is None]
        for upload in waiting:
            if status_of(stack, s3, upload.key):
                upload.tagged = time.monotonic()
                upload.backfill_done_then = backfill_done()

    watcher(look_at_live_uploads)
    while backfill_done() < 20:  # the backfill is under way: every slot is in use
        time.sleep(0.05)
    for number in range(LIVE_UPLOADS):
        picture = png_bytes(40, 40, (200, 20 + 10 * number, 90))
        stack.register_fixed_scores(picture, 1.0)
        key = stack.upload(f"live-{uuid.uuid4().hex[:6]}-{number}.png", picture)
        with lock:
            live.append(LiveUpload(key, time.monotonic()))
        time.sleep(0.5)

    # THEN every live upload is tagged, each within the bound, while the backfill was still running
    deadline = time.monotonic() + 60
    while any(u.tagged is None for u in live) and time.monotonic() < deadline:
        time.sleep(0.1)
    for upload in live:
        state = (
            f"tagged after {upload.seconds:.2f} s, backfill {upload.backfill_done_then}/{BACKFILL_OBJECTS} done"
            if upload.tagged
            else "NOT tagged"
        )
        print(f"live upload {upload.key}: {state}")
    assert all(u.tagged is not None for u in live)
    assert max(u.seconds for u in live) <= LIVE_BOUND_SECONDS
    assert all((u.backfill_done_then or 0) < BACKFILL_OBJECTS for u in live)
    # AND the backfill finishes: every old object tagged
    deadline = time.monotonic() + 240
    while backfill_done() < BACKFILL_OBJECTS and time.monotonic() < deadline:
        time.sleep(0.5)
    took = time.monotonic() - started
    untagged = [key for key in old_keys if status_of(stack, s3, key) != "SAFE"]
    print(
        f"backfill of {BACKFILL_OBJECTS} with {LIVE_UPLOADS} live uploads: {took:.1f} s, "
        f"{BACKFILL_OBJECTS / took:.1f} objects/s (the budget allows {BUDGET / CALL_SECONDS:.1f} calls/s); "
        f"peak calls at once {stack.imagga.peak_concurrency}; "
        f"429s {stack.imagga.count('/v2/categories/', answered=429)}"
    )
    assert untagged == []
    # AND Imagga never saw more calls at once than the budget, so it never refused one
    assert stack.imagga.peak_concurrency == BUDGET
    assert stack.imagga.count("/v2/", answered=429) == 0
    assert len(stack.imagga.categorizations()) == BACKFILL_OBJECTS + LIVE_UPLOADS


# --- S3 Batch Operations -------------------------------------------------------------------------------


def test_a_batch_operations_job_of_100_tasks_in_50_concurrent_invocations_stays_within_the_budget(
    budget_stack: LocalStack,
) -> None:
    stack = budget_stack
    s3 = stack.boto3_client("s3")
    # GIVEN 100 existing objects and a job with one task each
    picture = png_bytes(48, 48, (30, 90, 200))
    stack.register_fixed_scores(picture, 3.0)
    prefix = f"batch-{uuid.uuid4().hex[:6]}/"
    keys = [f"{prefix}photo {n:03d}.png" for n in range(100)]
    seed(stack, keys, picture)
    stack.imagga.reset_log()

    # WHEN S3 Batch Operations invokes the function for them, 50 invocations at once
    answers = play_batch_operations(
        [task_event(stack.bucket, key, n) for n, key in enumerate(keys)], stack.new_container, 50
    )

    # THEN every task answers at once, queued
    codes = [answer["results"][0]["resultCode"] for answer in answers]
    assert codes == ["Succeeded"] * 100
    assert all(answer["results"][0]["resultString"].startswith("QUEUED:") for answer in answers)
    # AND the stack's backfill queue works them off: every object tagged, never more calls at once
    # than the budget, never a 429
    deadline = time.monotonic() + 120
    while len(stack.imagga.categorizations()) < 100 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [key for key in keys if status_of(stack, s3, key) != "SAFE"] == []
    print(f"batch operations: peak calls at once {stack.imagga.peak_concurrency}")
    assert stack.imagga.peak_concurrency <= BUDGET
    assert stack.imagga.count("/v2/", answered=429) == 0


def test_without_the_queue_a_batch_operations_job_overruns_the_budget(budget_stack: LocalStack) -> None:
    """The control: the same harness with tasks moderated in place (no backfill queue, no shared budget)
    gets Imagga's 429s, as the deployed function did before. The test above can fail."""
    stack = budget_stack
    picture = png_bytes(48, 48, (90, 30, 200))
    stack.register_fixed_scores(picture, 3.0)
    prefix = f"control-{uuid.uuid4().hex[:6]}/"
    keys = [f"{prefix}{n:02d}.png" for n in range(20)]
    seed(stack, keys, picture)
    stack.imagga.reset_log()
    in_place = replace(stack.settings(), backfill_queue_url=None, budget_table=None, max_attempts=1)

    def new_container() -> Callable[..., Any]:
        from moderator.app import lambda_handler

        services = build_services(
            in_place,
            s3_client=stack.boto3_client("s3"),
            secrets_client=stack.boto3_client("secretsmanager"),
            dynamodb_client=stack.boto3_client("dynamodb"),
            endpoint_url=stack.endpoint_url,
        )
        return lambda event, context: lambda_handler(event, context, services=services)

    answers = play_batch_operations([task_event(stack.bucket, key, n) for n, key in enumerate(keys)], new_container, 20)

    codes = [answer["results"][0]["resultCode"] for answer in answers]
    assert stack.imagga.peak_concurrency > BUDGET
    assert stack.imagga.count("/v2/categories/", answered=429) > 0
    assert "TemporaryFailure" in codes


# --- the monthly quota ---------------------------------------------------------------------------------


def test_below_the_quota_reserve_backfill_waits_until_the_month_resets_while_live_uploads_go_on(
    make_stack: Callable[..., LocalStack],
) -> None:
    # GIVEN a plan of 100 requests a month of which 60 are left, a reserve of 50 kept for live
    # uploads, and a month that ends in 25 seconds
    stack = make_stack(
        max_concurrency=BUDGET,
        imagga_concurrency_limit=BUDGET,
        imagga_latency=0.05,
        imagga_monthly_limit=100,
        function_timeout=30,
        visibility_timeout=40,
        env={**NO_MEMORY_ENV, "BACKFILL_QUOTA_RESERVE": "50"},
    )
    s3 = stack.boto3_client("s3")
    reset_at = time.time() + 25
    stack.imagga.set_month(processed=40, reset_at=reset_at)
    picture = png_bytes(48, 48, (120, 60, 200))
    stack.register_fixed_scores(picture, 4.0)
    prefix = f"quota-{uuid.uuid4().hex[:6]}/"
    keys = [f"{prefix}{n:02d}.png" for n in range(30)]
    seed(stack, keys, picture)
    stack.imagga.reset_log()

    # WHEN 30 old objects are backfilled through the stack
    queued = Cli(stack)("backfill", f"s3://{stack.bucket}/{prefix}", "--queue-url", stack.backfill_queue_url)
    assert queued.exit_code == 0, queued.output

    # THEN the backfill stops once fewer than 50 requests are left (after about 10 calls) ...
    def calls() -> int:
        return len(stack.imagga.categorizations())

    previous, steady_since = -1, time.monotonic()
    while time.monotonic() - steady_since < 3.0 and time.time() < reset_at - 8:
        if calls() != previous:
            previous, steady_since = calls(), time.monotonic()
        time.sleep(0.1)
    paused_at = calls()
    assert 10 <= paused_at <= 10 + BUDGET
    assert time.time() < reset_at - 5, "the backfill did not pause before the month ended"
    # ... while a live upload is still moderated at once
    live_picture = png_bytes(40, 40, (10, 200, 200))
    stack.register_fixed_scores(live_picture, 1.0)
    live_key = stack.upload(f"live-{uuid.uuid4().hex[:6]}.png", live_picture)
    assert stack.wait_for_status([live_key], timeout=10)[live_key].status == "SAFE"
    # ... and S3 Batch Operations tasks answer TemporaryFailure, saying why and until when
    (answer,) = play_batch_operations([task_event(stack.bucket, keys[-1], 1)], stack.new_container, 1)
    result = answer["results"][0]
    assert result["resultCode"] == "TemporaryFailure"
    assert "backfill paused: Imagga's Monthly-Limit-Remaining is" in result["resultString"]
    assert "below the reserve of 50" in result["resultString"]
    assert "(Monthly-Limit-Reset)" in result["resultString"]
    assert calls() == paused_at + 1  # the live upload's call, nothing else
    untagged_in_pause = [key for key in keys if status_of(stack, s3, key) is None]
    assert len(untagged_in_pause) >= 30 - paused_at

    # WHEN the month resets
    # THEN the waiting tasks come back and every object is tagged, none through the dead-letter queue
    deadline = reset_at + 60
    while any(status_of(stack, s3, key) is None for key in keys) and time.time() < deadline:
        time.sleep(0.5)
    assert [key for key in keys if status_of(stack, s3, key) != "SAFE"] == []
    assert stack.dlq_bodies() == []
    assert stack.imagga.count("/v2/", answered=429) == 0
    assert stack.imagga.count("/v2/", answered=403) == 0
    print(f"quota: backfill paused after {paused_at} calls, resumed after the reset, {calls()} calls in all")


# --- many buckets, one stack ---------------------------------------------------------------------------


def test_two_buckets_in_one_stack_are_both_moderated_through_the_same_queue(
    make_stack: Callable[..., LocalStack],
) -> None:
    # GIVEN a stack with its own bucket (S3 notifications) and an existing bucket (EventBridge)
    stack = make_stack(extra_buckets=1, env=NO_MEMORY_ENV)
    (other,) = stack.extra_buckets
    picture = png_bytes(40, 40, (60, 180, 60))
    stack.register_fixed_scores(picture, 1.0)

    # WHEN images are uploaded to both, and one outside the existing bucket's incoming prefix
    mine = stack.upload(f"own-{uuid.uuid4().hex[:6]}.png", picture)
    theirs = stack.upload(f"existing-{uuid.uuid4().hex[:6]}.png", picture, bucket=other)
    stack.boto3_client("s3").put_object(Bucket=other, Key="elsewhere/not-moderated.png", Body=picture)

    # THEN both uploads under the prefix are moderated; the one outside it is left alone
    assert stack.wait_for_status([mine], timeout=30)[mine].status == "SAFE"
    assert stack.wait_for_status([theirs], timeout=30, bucket=other)[theirs].status == "SAFE"
    s3 = stack.boto3_client("s3")
    assert s3.get_object_tagging(Bucket=other, Key="elsewhere/not-moderated.png")["TagSet"] == []
    assert stack.imagga.count("/v2/categories/", answered=200) == 2
