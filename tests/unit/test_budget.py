"""The shared Imagga budget: never more calls than slots, live calls first, backfill paused by the quota."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from moderator.budget import (
    BudgetedCategorizer,
    BudgetState,
    Lease,
    OneImage,
    Priority,
    Quota,
    SharedBudget,
    calls_as,
    current_priority,
)
from moderator.errors import BackfillDeferredError, BudgetStoreError, ImaggaBusyError
from moderator.model import Categorization
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import FakeCategorizer, InMemoryBudgetStore

NOW = 1_800_000_000.0


class Clock:
    """Time that moves only when told to (or when the code under test sleeps)."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget_on(
    store: InMemoryBudgetStore, *, slots: int = 2, reserve: int = 100, clock: Clock | None = None
) -> SharedBudget:
    if clock is None:
        return SharedBudget(store, slots=slots, reserve=reserve, sleep=lambda s: time.sleep(min(s, 0.005)))
    return SharedBudget(store, slots=slots, reserve=reserve, clock=clock, sleep=clock.sleep, jitter=lambda: 0.5)


class CountingCategorizer:
    """Counts calls in progress at once, like Imagga's concurrency limit would see them."""

    categorizer = "nsfw_beta"

    def __init__(self, seconds: float = 0.002, remaining: int | None = None) -> None:
        self.seconds = seconds
        self.remaining = remaining
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls = 0

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Callable[[], float] | None = None
    ) -> Categorization:
        with self._lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.seconds)
        with self._lock:
            self.now -= 1
        return Categorization("nsfw_beta", {"safe": 99.0}, monthly_limit_remaining=self.remaining)


def test_many_instances_at_both_priorities_never_hold_more_calls_than_the_budget() -> None:
    # GIVEN a budget of 2 slots shared by 12 "instances" (threads), half live and half backfill,
    # on a record that takes a millisecond to read
    store = InMemoryBudgetStore(latency=0.001)
    budget = budget_on(store, slots=2)
    imagga = CountingCategorizer()
    categorizer = BudgetedCategorizer(imagga, budget)
    errors: list[BaseException] = []

    def instance(priority: Priority) -> None:
        try:
            with calls_as(priority):
                for _ in range(15):
                    try:
                        categorizer.categorize(b"jpeg", deadline=lambda: 60.0)
                    except BackfillDeferredError:
                        continue
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(p,)) for p in [Priority.LIVE, Priority.BACKFILL] * 6]

    # WHEN they all call Imagga as fast as they can
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # THEN never more than 2 calls were in progress at once, every call ran, and every slot came back
    assert errors == []
    assert imagga.peak == 2
    assert imagga.calls >= 15 * 6
    assert store.read().holders == {}
    assert store.read().waiting == {}
    assert store.conflicts > 0  # instances did race for the record: the conditional writes decided


def test_a_waiting_live_call_gets_the_next_free_slot_before_any_backfill_call() -> None:
    # GIVEN one slot, held by a backfill call, and a second backfill call waiting for it
    store = InMemoryBudgetStore()
    budget = budget_on(store, slots=1)
    first = budget.acquire(Priority.BACKFILL, lambda: 60.0)
    order: list[str] = []
    live_listed = threading.Event()

    def wait_for_slot(priority: Priority, name: str) -> None:
        holder = budget.acquire(priority, lambda: 60.0)
        order.append(name)
        time.sleep(0.01)
        budget.release(holder, None)

    backfill = threading.Thread(target=wait_for_slot, args=(Priority.BACKFILL, "backfill"))
    backfill.start()
    time.sleep(0.05)
    # AND a live call arrives after it, and says it waits
    live = threading.Thread(target=wait_for_slot, args=(Priority.LIVE, "live"))
    live.start()
    deadline = time.monotonic() + 5
    while not store.read().waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    live_listed.set()
    assert len(store.read().waiting) == 1

    # WHEN the first backfill call ends
    budget.release(first, None)
    live.join(10)
    backfill.join(30)

    # THEN the live call got the slot first, though the backfill call had waited longer
    assert order == ["live", "backfill"]
    assert store.read().holders == {} and store.read().waiting == {}


def test_the_slot_of_a_crashed_instance_frees_itself_when_its_invocation_would_have_ended() -> None:
    # GIVEN one slot taken by an invocation with 30 s left, which then dies without giving it back
    clock = Clock()
    store = InMemoryBudgetStore()
    budget = budget_on(store, slots=1, clock=clock)
    budget.acquire(Priority.LIVE, lambda: 30.0)

    # WHEN another live call asks for a slot, with two minutes of its own
    holder = budget.acquire(Priority.LIVE, lambda: 120.0)

    # THEN it got the slot once the dead one's lease ended, not before
    assert clock.now >= NOW + 30.0
    assert list(store.read().holders) == [holder]


def test_a_backfill_call_that_finds_no_slot_within_its_wait_gives_its_turn_back() -> None:
    # GIVEN every slot held by live calls for a long time
    clock = Clock()
    store = InMemoryBudgetStore()
    store.replace({"live-a": Lease(Priority.LIVE, NOW + 900), "live-b": Lease(Priority.LIVE, NOW + 900)}, {}, version=0)
    budget = budget_on(store, slots=2, clock=clock)

    # WHEN a backfill call waits for one
    with pytest.raises(BackfillDeferredError) as deferred:
        budget.acquire(Priority.BACKFILL, lambda: 600.0)

    # THEN it gives up after its wait (not its invocation's deadline), not paused, asking to come back later
    assert deferred.value.paused is False
    assert deferred.value.retry_in >= 20
    assert NOW + 20 <= clock.now < NOW + 25
    assert "live uploads first" in str(deferred.value)


def test_a_live_call_with_no_slot_before_its_deadline_fails_and_leaves_the_waiting_list() -> None:
    clock = Clock()
    store = InMemoryBudgetStore()
    store.replace({"a": Lease(Priority.BACKFILL, NOW + 900), "b": Lease(Priority.BACKFILL, NOW + 900)}, {}, version=0)
    budget = budget_on(store, slots=2, clock=clock)

    with pytest.raises(ImaggaBusyError):
        budget.acquire(Priority.LIVE, lambda: 12.0)

    assert clock.now >= NOW + 12.0 - 5.0
    assert store.read().waiting == {}


def test_backfill_waits_while_a_live_call_is_listed_even_when_a_slot_is_free() -> None:
    # GIVEN one free slot of two, and a live call listed as waiting (it will take it in a moment)
    clock = Clock()
    store = InMemoryBudgetStore()
    store.replace({"a": Lease(Priority.BACKFILL, NOW + 900)}, {"live": NOW + 5}, version=0)
    budget = budget_on(store, slots=2, clock=clock)

    # WHEN a backfill call asks
    holder = budget.acquire(Priority.BACKFILL, lambda: 600.0)

    # THEN it took the slot only once the live call's wait had ended
    assert clock.now >= NOW + 5
    assert holder in store.read().holders


# --- the quota ---------------------------------------------------------------------------------


def test_the_quota_seen_on_a_call_is_kept_in_the_shared_record() -> None:
    store = InMemoryBudgetStore()
    clock = Clock()
    budget = budget_on(store, clock=clock)
    categorizer = BudgetedCategorizer(CountingCategorizer(remaining=4321), budget)

    categorizer.categorize(b"jpeg")

    assert store.read().quota == Quota(remaining=4321, reset_at=None, seen_at=NOW)
    assert store.read().holders == {}


def test_below_the_reserve_backfill_pauses_until_the_reset_and_live_calls_go_on(metric_totals: MetricTotals) -> None:
    # GIVEN 40 requests left this month, a reserve of 100, and a reset in three days
    clock = Clock()
    store = InMemoryBudgetStore()
    reset = NOW + 3 * 86_400
    store.set_quota(Quota(remaining=40, reset_at=reset, seen_at=NOW - 60))
    budget = budget_on(store, reserve=100, clock=clock)

    # WHEN backfill work and a live upload ask for a slot
    pause = budget.backfill_pause()
    with pytest.raises(BackfillDeferredError) as deferred:
        budget.acquire(Priority.BACKFILL, lambda: 600.0)
    live = budget.acquire(Priority.LIVE, lambda: 600.0)

    # THEN backfill is paused until the reset, saying why; the live call has its slot at once
    assert pause is not None and pause.resume_at == reset
    assert deferred.value.paused is True
    assert deferred.value.retry_in == pytest.approx(3 * 86_400)
    assert str(deferred.value) == pause.describe()
    assert "Monthly-Limit-Remaining is 40, below the reserve of 100" in str(deferred.value)
    assert "resumes at 2027-01-18T" in str(deferred.value)
    assert live in store.read().holders
    assert clock.slept == []
    assert metric_totals()["ImaggaSlotWaitLive"] == 0.0

    # WHEN the month ends
    clock.now = reset + 1
    # THEN backfill work runs again (its first call will read the new month's count)
    assert budget.backfill_pause() is None
    assert budget.acquire(Priority.BACKFILL, lambda: 600.0) in store.read().holders


def test_without_a_reset_time_a_paused_backfill_looks_again_after_an_hour() -> None:
    clock = Clock()
    store = InMemoryBudgetStore()
    store.set_quota(Quota(remaining=10, reset_at=None, seen_at=NOW))
    budget = budget_on(store, reserve=100, clock=clock)

    pause = budget.backfill_pause()
    clock.now = NOW + 3601

    assert pause is not None and pause.at_reset is False and pause.resume_at == NOW + 3600
    assert "looks again at" in pause.describe()
    assert budget.backfill_pause() is None


def test_a_recent_look_at_the_quota_is_reused_but_taking_a_slot_always_looks_again() -> None:
    # GIVEN an instance that looked at the quota (plenty left), then the quota fell below the reserve
    clock = Clock()
    store = InMemoryBudgetStore()
    store.set_quota(Quota(remaining=5000, reset_at=NOW + 86_400, seen_at=NOW))
    budget = budget_on(store, reserve=100, clock=clock)
    assert budget.backfill_pause(max_age=5.0) is None
    store.set_quota(Quota(remaining=10, reset_at=NOW + 86_400, seen_at=NOW + 1))

    # WHEN it looks again within five seconds, after them, and when a backfill call asks for a slot
    clock.now = NOW + 2
    recent = budget.backfill_pause(max_age=5.0)
    with pytest.raises(BackfillDeferredError):
        budget.acquire(Priority.BACKFILL, lambda: 60.0)
    clock.now = NOW + 6
    later = budget.backfill_pause(max_age=5.0)

    # THEN the recent look still says "not paused", but the slot is refused and the later look says paused
    assert recent is None
    assert later is not None and later.remaining == 10


def test_at_or_above_the_reserve_nothing_pauses() -> None:
    store = InMemoryBudgetStore()
    store.set_quota(Quota(remaining=100, reset_at=NOW + 10, seen_at=NOW))

    assert budget_on(store, reserve=100, clock=Clock()).backfill_pause() is None


# --- the categorizer wrapper -------------------------------------------------------------------


def test_a_failed_call_gives_its_slot_back_and_the_error_goes_on() -> None:
    store = InMemoryBudgetStore()
    failing = FakeCategorizer(error=RuntimeError("boom"))
    categorizer = BudgetedCategorizer(failing, budget_on(store, clock=Clock()))

    with pytest.raises(RuntimeError, match="boom"):
        categorizer.categorize(b"jpeg")

    assert store.read().holders == {}
    assert len(failing.images) == 1


class UnreachableStore(InMemoryBudgetStore):
    def read(self) -> BudgetState:
        raise BudgetStoreError("reading the Imagga budget table failed: ServiceUnavailable")


def test_without_the_budget_table_live_calls_go_on_and_backfill_calls_wait(metric_totals: MetricTotals) -> None:
    # GIVEN a budget whose table cannot be reached
    imagga = CountingCategorizer()
    categorizer = BudgetedCategorizer(imagga, budget_on(UnreachableStore(), clock=Clock()))

    # WHEN a live call and a backfill call are made
    live = categorizer.categorize(b"jpeg")
    with calls_as(Priority.BACKFILL), pytest.raises(BackfillDeferredError) as deferred:
        categorizer.categorize(b"jpeg")

    # THEN the live upload is judged (without a slot: Imagga's own limit is the backstop), the
    # backfill task waits, not paused, and both failures to reach the table are counted
    assert live.scores == {"safe": 99.0} and imagga.calls == 1
    assert deferred.value.paused is False and deferred.value.retry_in == 60.0
    assert metric_totals()["ErrorBudgetStore"] == 2


def test_the_priority_follows_the_context_into_threads_started_from_it() -> None:
    import asyncio

    seen: list[Priority] = []

    async def main() -> None:
        with calls_as(Priority.BACKFILL):
            await asyncio.to_thread(lambda: seen.append(current_priority()))
        await asyncio.to_thread(lambda: seen.append(current_priority()))

    asyncio.run(main())

    assert seen == [Priority.BACKFILL, Priority.LIVE]


def test_random_interleavings_of_take_and_give_back_keep_the_record_consistent() -> None:
    # GIVEN a store and a budget driven by a seeded sequence of takes and gives back at both priorities
    rng = random.Random(7)
    clock = Clock()
    store = InMemoryBudgetStore()
    budget = budget_on(store, slots=3, clock=clock)
    held: list[str] = []

    # WHEN 300 steps run
    for _ in range(300):
        if held and (len(held) == 3 or rng.random() < 0.5):
            budget.release(held.pop(rng.randrange(len(held))), None)
        else:
            held.append(budget.acquire(rng.choice([Priority.LIVE, Priority.BACKFILL]), lambda: 60.0))
        clock.now += 0.01

    # THEN the record always named exactly the slots held
    assert set(store.read().holders) == set(held)


def test_a_backfill_image_whose_first_frame_was_answered_sends_its_other_frames_even_once_paused() -> None:
    # GIVEN backfill work, and Imagga answering that 40 requests are left, below the reserve of 100
    store = InMemoryBudgetStore()
    budget = budget_on(store, reserve=100, clock=Clock())
    imagga = CountingCategorizer(seconds=0, remaining=40)
    budgeted = BudgetedCategorizer(imagga, budget)

    with calls_as(Priority.BACKFILL):
        # WHEN an animation's frames go out one image at a time
        frames = OneImage(budgeted)
        answers = [frames.categorize(b"frame") for _ in range(3)]
        # THEN the first answer paused backfill work, yet the image's other frames were still sent:
        # the call already made for it is not thrown away
        assert len(answers) == 3 and imagga.calls == 3
        assert budget.backfill_pause() is not None
        # AND the next image waits: backfill is paused for anything not yet begun
        with pytest.raises(BackfillDeferredError):
            OneImage(budgeted).categorize(b"another image")
        # AND the priority of the caller is its own again
        assert current_priority() is Priority.BACKFILL
    assert imagga.calls == 3
    assert store.read().holders == {}
