"""Moderate objects that existed before the function did: a streamed, bounded, resumable walk.

Two ways: `queue_backfill` sends a backfill task per object to a stack's backfill queue, whose
consumer moderates them within the stack's one Imagga budget, behind live uploads;
`run_backfill` moderates them from this process (for buckets no stack moderates).

The listing is consumed page by page and at most twice `concurrency` objects are in flight, so
memory stays flat for millions of keys. The tags are the state: a rerun skips what carries a
`moderation:status` (unless rescanning), so an interrupted run simply resumes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from . import tags
from .errors import ModeratorError
from .model import ObjectRef, Outcome, StoredObject
from .pipeline import not_an_upload

T = TypeVar("T")


class Listing(Protocol):
    @property
    def key(self) -> str: ...


class BackfillStorage(Protocol):
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...


class ModerateOne(Protocol):
    def __call__(self, ref: ObjectRef) -> Outcome: ...


class SendTasks(Protocol):
    """Sends one backfill task per object (at most ten at a time); raises ModeratorError when it cannot."""

    def __call__(self, refs: list[ObjectRef]) -> None: ...


@dataclass
class BackfillReport:
    listed: int = 0
    sent: int = 0
    already_tagged: int = 0
    skipped: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)


def needs_scan(storage: BackfillStorage, bucket: str, key: str, *, rescan: bool) -> bool:
    if rescan:
        return True
    current = storage.get_tags(StoredObject(bucket, key, None, "", 0))
    return tags.STATUS not in current


def run_backfill(
    listing: Iterable[Listing],
    *,
    bucket: str,
    quarantine_prefix: str,
    storage: BackfillStorage,
    moderate: ModerateOne,
    rescan: bool = False,
    dry_run: bool = False,
    concurrency: int = 2,
    on_progress: Callable[[BackfillReport], None] = lambda report: None,
    stop: threading.Event | None = None,
) -> BackfillReport:
    report = BackfillReport()
    lock = threading.Lock()
    stop = stop or threading.Event()

    def work(item: Listing) -> None:
        try:
            if not needs_scan(storage, bucket, item.key, rescan=rescan):
                outcome_status, sent = "already-tagged", False
            elif dry_run:
                outcome_status, sent = "would-send", True
            else:
                outcome = moderate(ObjectRef(bucket, item.key))
                outcome_status = str(outcome.status) if outcome.status else "skipped"
                sent = True
        except ModeratorError as exc:
            with lock:
                report.failed += 1
                report.failures.append(f"{item.key}: {exc}")
            return
        with lock:
            if outcome_status == "already-tagged":
                report.already_tagged += 1
            elif outcome_status == "skipped":
                report.skipped += 1
            else:
                report.sent += int(sent)
                report.statuses[outcome_status] += 1

    _stream(
        listing,
        work,
        lambda done: on_progress(report),
        report=report,
        quarantine_prefix=quarantine_prefix,
        concurrency=concurrency,
        stop=stop,
        thread_name="backfill",
    )
    return report


#: Objects per send: SQS's SendMessageBatch takes ten.
TASKS_PER_SEND = 10


def queue_backfill(
    listing: Iterable[Listing],
    *,
    bucket: str,
    quarantine_prefix: str,
    storage: BackfillStorage,
    send: SendTasks,
    rescan: bool = False,
    dry_run: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[BackfillReport], None] = lambda report: None,
    stop: threading.Event | None = None,
) -> BackfillReport:
    """One task per object without a status (every object with `rescan`), sent ten at a time.

    `concurrency` bounds the tag reads in flight (one request per object); `report.sent` counts
    the tasks sent (or that would be, with `dry_run`).
    """
    report = BackfillReport()
    stop = stop or threading.Event()
    ready: list[ObjectRef] = []

    def check(item: Listing) -> ObjectRef | None:
        return ObjectRef(bucket, item.key) if needs_scan(storage, bucket, item.key, rescan=rescan) else None

    def flush() -> None:
        if not ready:
            return
        chunk = list(ready)
        ready.clear()
        if dry_run:
            report.sent += len(chunk)
            return
        try:
            send(chunk)
        except ModeratorError as exc:
            report.failed += len(chunk)
            report.failures.extend(f"{ref.key}: {exc}" for ref in chunk)
            return
        report.sent += len(chunk)

    def collect(done: set[Future[ObjectRef | None]]) -> None:
        for future in done:
            try:
                ref = future.result()
            except ModeratorError as exc:
                report.failed += 1
                report.failures.append(str(exc))
                continue
            if ref is None:
                report.already_tagged += 1
                continue
            ready.append(ref)
            if len(ready) >= TASKS_PER_SEND:
                flush()
        on_progress(report)

    _stream(
        listing,
        check,
        collect,
        report=report,
        quarantine_prefix=quarantine_prefix,
        concurrency=concurrency,
        stop=stop,
        thread_name="backfill-check",
    )
    # What was found before an interruption is still sent: the tags say the rest on the next run.
    flush()
    on_progress(report)
    return report


def _stream(
    listing: Iterable[Listing],
    job: Callable[[Listing], T],
    collect: Callable[[set[Future[T]]], None],
    *,
    report: BackfillReport,
    quarantine_prefix: str,
    concurrency: int,
    stop: threading.Event,
    thread_name: str,
) -> None:
    """`job` for every listed upload, `concurrency` at once and at most twice that in flight, so memory
    stays flat for any listing; `collect` takes the finished ones as they end, and all at the end.

    `stop` (or Ctrl-C) ends the listing; what is in flight finishes, so no object is left half-moved.
    """
    in_flight: set[Future[T]] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=thread_name) as pool:
        try:
            for item in listing:
                if stop.is_set():
                    report.interrupted = True
                    break
                report.listed += 1
                if not_an_upload(item.key, quarantine_prefix):
                    report.skipped += 1
                    continue
                while len(in_flight) >= 2 * concurrency:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    collect(done)
                in_flight.add(pool.submit(job, item))
                report.max_in_flight = max(report.max_in_flight, len(in_flight))
        except KeyboardInterrupt:
            report.interrupted = True
        done, _ = wait(in_flight)
        collect(done)
