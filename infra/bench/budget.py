"""The one Imagga budget, measured on the local stack: `make bench-budget` prints the figures.

1. What the shared budget costs live uploads: the same burst through the function with the budget's
   table (every call takes and gives back a slot) and without it (each instance limits itself only).
2. S3 Batch Operations, 100 tasks in 50 concurrent invocations, three ways: every task queued (what
   the stack does), every invocation calling Imagga itself while holding a slot of the shared table
   (a distributed lock around Imagga calls, the alternative), and neither (before).
3. Live uploads during a backfill: how long each waits, and what the backfill gets meanwhile.

The emulator's concurrency limit is the budget; it answers every call after a fixed latency, fixed
scores, so the calls set the pace. Figures, not tests: nothing here asserts a duration.
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from infra.local.batch_operations import play_batch_operations, task_event
from infra.local.console import quiet_function_logs
from infra.local.stack import LocalStack

from .report import machine, table

BUDGET = 2
LATENCY = 0.15


@dataclass
class DynamoDBCount:
    """Requests the function's containers sent to the budget's table."""

    table: str
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def hook(self, service: str, client: Any) -> None:
        if service == "dynamodb":
            client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        if self.table in str(params.get("body", b"")):
            with self._lock:
                self.requests += 1


@contextmanager
def budget_stack(*, shared_budget: bool = True) -> Iterator[tuple[LocalStack, DynamoDBCount]]:
    name = f"bench-budget-{uuid.uuid4().hex[:6]}"
    counter = DynamoDBCount(f"{name}-budget")
    stack = LocalStack(
        name=name,
        max_concurrency=BUDGET,
        imagga_concurrency_limit=BUDGET,
        imagga_latency=LATENCY,
        shared_budget=shared_budget,
        function_timeout=60,
        visibility_timeout=360,
        # Every object is the same picture: with the content memory on, only the first would reach Imagga.
        env={"IMAGGA_MAX_ATTEMPTS": "4", "CONTENT_MEMORY": "off"},
        function_client_hook=counter.hook,
    )
    with stack:
        yield stack, counter


def picture(number: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), ((number * 37) % 256, (number * 91) % 256, 120)).save(out, "PNG")
    return out.getvalue()


def seed(stack: LocalStack, keys: list[str], data: bytes) -> None:
    s3 = stack.boto3_client("s3")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=stack.bucket, Key=key, Body=data), keys))


def tagged(stack: LocalStack, keys: list[str]) -> int:
    s3 = stack.boto3_client("s3")
    return sum(
        1
        for key in keys
        if any(t["Key"] == "moderation:status" for t in s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"])
    )


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's work did not finish")
        time.sleep(0.1)


# --- 1. what the budget costs live uploads -----------------------------------------------------------


def live_burst(images: int, shared_budget: bool) -> dict[str, Any]:
    with budget_stack(shared_budget=shared_budget) as (stack, counter):
        data = picture(1)
        stack.register_fixed_scores(data, 1.0)
        stack.pause()
        time.sleep(1.5)
        keys = [stack.full_key(f"burst/{n:03d}.png") for n in range(images)]
        seed(stack, keys, data)
        stack.imagga.reset_log()
        started = time.perf_counter()
        stack.resume()
        wait_for(lambda: len(stack.imagga.categorizations()) >= images and tagged(stack, keys) == images, 600)
        seconds = time.perf_counter() - started
        calls = len(stack.imagga.categorizations())
        return {
            "rate": images / seconds,
            "share": images / seconds / (BUDGET / LATENCY),
            "peak": stack.imagga.peak_concurrency,
            "refused": stack.imagga.count("/v2/", answered=429),
            "ddb_per_call": counter.requests / calls if shared_budget else 0.0,
        }


# --- 2. S3 Batch Operations three ways ---------------------------------------------------------------


def batch_operations(way: str, tasks: int = 100, concurrency: int = 50) -> dict[str, Any]:
    from moderator.app import lambda_handler
    from moderator.wiring import build_services

    with budget_stack(shared_budget=way != "neither") as (stack, counter):
        data = picture(2)
        stack.register_fixed_scores(data, 1.0)
        prefix = f"job-{uuid.uuid4().hex[:6]}/"
        keys = [f"{prefix}{n:03d}.png" for n in range(tasks)]
        seed(stack, keys, data)
        stack.imagga.reset_log()
        settings = stack.settings()
        if way != "queued":
            settings = replace(settings, backfill_queue_url=None)
        if way == "neither":
            settings = replace(settings, budget_table=None)
        durations: list[float] = []
        lock = threading.Lock()

        def new_container() -> Callable[..., Any]:
            client = stack.boto3_client
            dynamodb = client("dynamodb")
            counter.hook("dynamodb", dynamodb)
            services = build_services(
                settings,
                s3_client=client("s3"),
                secrets_client=client("secretsmanager"),
                dynamodb_client=dynamodb,
                sqs_client=client("sqs"),
                endpoint_url=stack.endpoint_url,
            )

            def handler(event: dict[str, Any], context: Any) -> Any:
                started = time.perf_counter()
                try:
                    return lambda_handler(event, context, services=services)
                finally:
                    with lock:
                        durations.append(time.perf_counter() - started)

            return handler

        events = [task_event(stack.bucket, key, n) for n, key in enumerate(keys)]
        started = time.perf_counter()
        answers = play_batch_operations(events, new_container, concurrency, function_timeout=120)
        answered = time.perf_counter() - started
        codes = [a["results"][0]["resultCode"] for a in answers]
        if way == "queued":
            wait_for(lambda: tagged(stack, keys) == tasks, 600)
        done = time.perf_counter() - started
        calls = max(1, len(stack.imagga.categorizations()))
        return {
            "answered_s": answered,
            "done_s": done,
            "tagged": tagged(stack, keys),
            "temporary": codes.count("TemporaryFailure"),
            "invocation_s": sum(durations),
            "longest_s": max(durations),
            "peak": stack.imagga.peak_concurrency,
            "refused": stack.imagga.count("/v2/categories/", answered=429),
            "ddb_per_call": counter.requests / calls,
        }


# --- 3. live uploads during a backfill ---------------------------------------------------------------


def live_during_backfill(backfill: int = 200, live: int = 15) -> dict[str, Any]:
    from moderator.backfill import queue_backfill
    from moderator.events import BackfillTask, backfill_task_body
    from moderator.queues import Queues
    from moderator.storage import S3Storage

    with budget_stack() as (stack, _counter):
        old = picture(3)
        stack.register_fixed_scores(old, 1.0)
        prefix = f"archive-{uuid.uuid4().hex[:6]}/"
        keys = [f"{prefix}{n:03d}.png" for n in range(backfill)]
        seed(stack, keys, old)
        stack.imagga.reset_log()
        queues = Queues(lambda: stack.boto3_client("sqs"))
        storage = S3Storage(stack.boto3_client("s3"))
        started = time.perf_counter()
        queue_backfill(
            storage.list_objects(stack.bucket, prefix),
            bucket=stack.bucket,
            quarantine_prefix=stack.quarantine_prefix,
            storage=storage,
            send=lambda refs: queues.send(
                stack.backfill_queue_url, [backfill_task_body(BackfillTask(ref)) for ref in refs]
            ),
        )
        wait_for(lambda: len(stack.imagga.categorizations()) >= 20, 120)
        latencies: list[float] = []
        s3 = stack.boto3_client("s3")
        for number in range(live):
            data = picture(100 + number)
            stack.register_fixed_scores(data, 1.0)
            key = stack.upload(f"live-{number}.png", data)
            uploaded = time.perf_counter()
            while not any(
                t["Key"] == "moderation:status" for t in s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"]
            ):
                time.sleep(0.02)
            latencies.append(time.perf_counter() - uploaded)
            time.sleep(0.5)
        during = len(stack.imagga.categorizations())
        wait_for(lambda: tagged(stack, keys) == backfill, 600)
        seconds = time.perf_counter() - started
        return {
            "median_s": statistics.median(latencies),
            "max_s": max(latencies),
            "backfill_rate": backfill / seconds,
            "during": during,
            "peak": stack.imagga.peak_concurrency,
            "refused": stack.imagga.count("/v2/", answered=429),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=120, help="live burst size (default: %(default)s)")
    args = parser.parse_args(argv)
    quiet_function_logs()
    limit = BUDGET / LATENCY
    print(f"Budget {BUDGET} calls at once, Imagga {LATENCY * 1000:.0f} ms per call: at most {limit:.1f} calls/s.\n")

    rows = []
    for shared in (False, True):
        found = live_burst(args.images, shared)
        rows.append(
            [
                "shared budget (DynamoDB slots)" if shared else "each instance alone (before)",
                f"{found['rate']:.2f}",
                f"{found['share']:.0%}",
                found["peak"],
                found["refused"],
                f"{found['ddb_per_call']:.1f}",
            ]
        )
    print(f"1. {args.images} live uploads at once")
    print(table(["calls", "images/s", "of the limit", "peak at once", "429s", "budget requests / call"], rows))

    rows = []
    for way, label in (
        ("queued", "tasks queued, consumers within the budget (chosen)"),
        ("lock", "each invocation takes a slot of the shared table (a distributed lock)"),
        ("neither", "each invocation calls Imagga (before)"),
    ):
        found = batch_operations(way)
        rows.append(
            [
                label,
                f"{found['answered_s']:.1f}",
                f"{found['done_s']:.1f}",
                found["tagged"],
                found["temporary"],
                f"{found['invocation_s']:.1f}",
                f"{found['longest_s']:.2f}",
                found["peak"],
                found["refused"],
                f"{found['ddb_per_call']:.1f}",
            ]
        )
    print("\n2. S3 Batch Operations: 100 tasks, 50 invocations at once")
    print(
        table(
            [
                "way",
                "all answered (s)",
                "all tagged (s)",
                "tagged",
                "TemporaryFailure",
                "invocation time, sum (s)",
                "longest invocation (s)",
                "peak at once",
                "429s",
                "budget requests / call",
            ],
            rows,
        )
    )

    found = live_during_backfill()
    print("\n3. 15 live uploads, one every 0.5 s, during a backfill of 200")
    print(
        table(
            ["live: median (s)", "live: longest (s)", "backfill objects/s", "peak at once", "429s"],
            [
                [
                    f"{found['median_s']:.2f}",
                    f"{found['max_s']:.2f}",
                    f"{found['backfill_rate']:.2f}",
                    found["peak"],
                    found["refused"],
                ]
            ],
        )
    )
    print(f"\n{machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
