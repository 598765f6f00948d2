"""`run_backfill`'s memory does not grow with the listing: measured with tracemalloc over N and 4N objects.

In a module of its own, with no local stack running: tracemalloc counts every thread's allocations.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from moderator.backfill import BackfillReport, run_backfill
from moderator.model import Action, ObjectRef, Outcome, Status, StoredObject


@dataclass(frozen=True)
class Listed:
    key: str


class HalfTaggedStorage:
    """Even-numbered keys already carry a status; nothing is stored."""

    def get_tags(self, obj: StoredObject) -> dict[str, str]:
        return {"moderation:status": "SAFE"} if int(obj.key.rsplit("-", 1)[1]) % 2 == 0 else {}


def listing(count: int) -> Iterator[Listed]:
    """A bucket listing produced lazily, like the paginator's."""
    for number in range(count):
        yield Listed(f"archive/object-{number}")


def moderate_safely(ref: ObjectRef) -> Outcome:
    return Outcome(ref=ref, action=Action.TAGGED, status=Status.SAFE)


def peak_memory_of_backfill(count: int, concurrency: int) -> tuple[int, BackfillReport]:
    tracemalloc.start()
    try:
        report = run_backfill(
            listing(count),
            bucket="archive-bucket",
            quarantine_prefix="quarantine/",
            storage=HalfTaggedStorage(),
            moderate=moderate_safely,
            concurrency=concurrency,
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, report


@pytest.mark.parametrize("concurrency", [1, 4])
def test_backfill_memory_stays_flat_when_the_listing_grows_fourfold(concurrency: int) -> None:
    # GIVEN listings of N and 4N objects
    n = 2_000

    # WHEN each is backfilled
    peak_n, report_n = peak_memory_of_backfill(n, concurrency)
    peak_4n, report_4n = peak_memory_of_backfill(4 * n, concurrency)
    print(
        f"concurrency {concurrency}: peak {peak_n / 1024:.0f} KiB for {n} objects, {peak_4n / 1024:.0f} KiB for {4 * n}"
    )

    # THEN every object was handled, never more than 2 x concurrency at once, and memory did not grow with N
    assert (report_n.sent, report_n.already_tagged) == (n // 2, n // 2)
    assert (report_4n.sent, report_4n.already_tagged) == (2 * n, 2 * n)
    assert 0 < report_4n.max_in_flight <= 2 * concurrency
    assert 0 < report_n.max_in_flight <= 2 * concurrency
    assert peak_4n < 2 * peak_n
