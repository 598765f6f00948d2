"""Moderate objects that existed before the function did: a streamed, bounded, resumable walk.

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
from typing import Protocol

from . import tags
from .errors import ModeratorError
from .model import ObjectRef, Outcome, StoredObject
from .pipeline import not_an_upload


class Listing(Protocol):
    @property
    def key(self) -> str: ...


class BackfillStorage(Protocol):
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...


class ModerateOne(Protocol):
    def __call__(self, ref: ObjectRef) -> Outcome: ...


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

    in_flight: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="backfill") as pool:
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
                    _done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    on_progress(report)
                in_flight.add(pool.submit(work, item))
                report.max_in_flight = max(report.max_in_flight, len(in_flight))
        except KeyboardInterrupt:
            # Stop listing; what is in flight finishes so no object is left half-moved.
            report.interrupted = True
        wait(in_flight)
    on_progress(report)
    return report
