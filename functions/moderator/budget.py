"""The deployment's one Imagga budget: at most IMAGGA_MAX_CONCURRENCY calls at once, live uploads first.

Every Imagga call takes a slot before it starts and gives it back when it ends, whichever function
instance makes it and whichever queue its object came from. The slots are kept in one record
shared by every instance (budget_table.py: a DynamoDB item), so the live queue's instances and the
backfill queue's instances count against the same budget.

Live uploads first: a live call takes any free slot; one that finds none puts its name on the
record's waiting list. A backfill call takes a slot only when one is free *and* no live call is
waiting, so backfill work uses what live traffic leaves, and a live upload waits at most for one
backfill call to end. A backfill call that finds no slot for a while gives up its turn
(BackfillDeferredError): its message waits in its queue instead of holding an instance.

The record also keeps the last Monthly-Limit-Remaining Imagga sent, with Monthly-Limit-Reset.
Below the reserve, backfill work pauses until the reset; live uploads carry on.

A slot is a lease naming its holder and the time its invocation must end by: the slot of an
instance that crashed or timed out frees itself then. Every change to the record is conditional on
the version read, so two instances never take the same last slot.

No I/O here: the record is reached through `BudgetStore`.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from .assessment import Categorizer, Deadline
from .errors import BackfillDeferredError, BudgetStoreError, ImaggaBusyError, ModeratorError
from .model import Categorization
from .observability import logger, record_error, record_slot_wait

#: A backfill call waits this long for a slot before its message goes back to wait in the queue.
BACKFILL_SLOT_WAIT_SECONDS = 20.0
#: A lease's length when the caller has no deadline (tests, a local process).
DEFAULT_LEASE_SECONDS = 300.0
#: Kept in hand before the deadline: connecting to Imagga and tagging still need time after a slot.
DEADLINE_MARGIN = 5.0
#: Without a Monthly-Limit-Reset from Imagga, a paused backfill tries one call again after this long.
PAUSE_RECHECK_SECONDS = 3600.0
#: How long an instance trusts its last look at the quota before answering S3 Batch Operations
#: tasks (taking a slot always reads the record again, so a pause is never missed there).
PAUSE_LOOK_SECONDS = 5.0
#: Between two looks at the record while waiting: first, and at most (doubling, with jitter).
FIRST_POLL = {"live": 0.02, "backfill": 0.1}
LAST_POLL = {"live": 0.25, "backfill": 1.0}


class Priority(StrEnum):
    LIVE = "live"
    BACKFILL = "backfill"


_CURRENT: ContextVar[Priority] = ContextVar("imagga_call_priority", default=Priority.LIVE)


@contextmanager
def calls_as(priority: Priority) -> Iterator[None]:
    """Imagga calls made inside (in this thread, or in threads started with its context) have this priority."""
    token = _CURRENT.set(priority)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_priority() -> Priority:
    return _CURRENT.get()


class OneImage:
    """The calls for one image's frames: once the first is answered, the rest go at live priority.

    A backfill image whose later frame had to wait would lose the calls already made for its earlier
    frames (the whole image is judged again when its task comes back). So after the first frame a
    backfill image is finished like a live one: it takes the next free slot, pause or not; at most
    ANIMATION_FRAMES - 1 calls more. Live images are unchanged.
    """

    def __init__(self, inner: Categorizer) -> None:
        self.categorizer = inner.categorizer
        self._inner = inner
        self._answered = False

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Deadline | None = None
    ) -> Categorization:
        if not self._answered:
            result = self._inner.categorize(image, content_type, deadline)
            self._answered = True
            return result
        with calls_as(Priority.LIVE):
            return self._inner.categorize(image, content_type, deadline)


@dataclass(frozen=True)
class Lease:
    priority: Priority
    #: Unix seconds: the slot is free again after this, released or not.
    until: float


@dataclass(frozen=True)
class Quota:
    """The last Monthly-Limit-Remaining and Monthly-Limit-Reset Imagga sent, and when."""

    remaining: int | None = None
    reset_at: float | None = None
    seen_at: float | None = None


@dataclass(frozen=True)
class BudgetState:
    """The shared record as read: every write must name the version it was computed from."""

    version: int = 0  # 0: there is no record yet
    holders: Mapping[str, Lease] = field(default_factory=dict)
    #: Live calls waiting for a slot, each until its own deadline.
    waiting: Mapping[str, float] = field(default_factory=dict)
    quota: Quota = field(default_factory=Quota)


class BudgetStore(Protocol):
    def read(self) -> BudgetState: ...

    def replace(self, holders: Mapping[str, Lease], waiting: Mapping[str, float], *, version: int) -> bool:
        """Write both lists if the record is still at `version`; False when another instance wrote first."""
        ...

    def release(self, holder: str, quota: Quota | None) -> None:
        """Remove `holder` from the slots and from the waiting list; record the quota seen, if any."""
        ...


@dataclass(frozen=True)
class Pause:
    """Backfill work is paused: the quota left is below the reserve until `resume_at`."""

    remaining: int
    reserve: int
    resume_at: float
    #: True when Imagga named the reset; False when the pause only waits to look again.
    at_reset: bool

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.resume_at - now)

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.resume_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        resumes = f"resumes at {when} (Monthly-Limit-Reset)" if self.at_reset else f"looks again at {when}"
        return (
            f"backfill paused: Imagga's Monthly-Limit-Remaining is {self.remaining}, below the reserve of "
            f"{self.reserve} kept for live uploads; {resumes}"
        )


class SharedBudget:
    """Takes and gives back slots of the shared record, live calls first."""

    def __init__(
        self,
        store: BudgetStore,
        *,
        slots: int,
        reserve: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        backfill_wait: float = BACKFILL_SLOT_WAIT_SECONDS,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.slots = slots
        self.reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._backfill_wait = backfill_wait
        self._lease_seconds = lease_seconds
        self._quota_seen: tuple[float, Quota] | None = None

    # --- the quota -------------------------------------------------------------------------------

    def pause_for(self, quota: Quota, now: float) -> Pause | None:
        """Paused while the last count seen is below the reserve and its month (or a re-check) is not over.

        Once the reset Imagga named has passed, the count is last month's: backfill work runs, and
        its first call reads the new month's count.
        """
        if quota.remaining is None or quota.remaining >= self.reserve:
            return None
        if quota.reset_at is not None:
            pause = Pause(quota.remaining, self.reserve, quota.reset_at, at_reset=True)
        else:
            pause = Pause(quota.remaining, self.reserve, (quota.seen_at or now) + PAUSE_RECHECK_SECONDS, at_reset=False)
        return pause if now < pause.resume_at else None

    def backfill_pause(self, *, max_age: float = 0.0) -> Pause | None:
        """Is backfill work paused? With `max_age`, a look at the quota that recent is enough."""
        now = self._clock()
        seen = self._quota_seen
        if seen is None or now - seen[0] > max_age:
            seen = (now, self.store.read().quota)
            self._quota_seen = seen
        return self.pause_for(seen[1], now)

    # --- slots -----------------------------------------------------------------------------------

    def acquire(self, priority: Priority, deadline: Deadline | None = None) -> str:
        """Wait for a slot; return the holder name to release it with.

        Raises BackfillDeferredError (backfill: paused, or no slot within its wait) or ImaggaBusyError
        (live: no slot before the deadline).
        """
        holder = uuid.uuid4().hex
        started = self._clock()
        remaining = deadline() if deadline is not None else self._lease_seconds
        until = started + remaining
        give_up = until - DEADLINE_MARGIN
        if priority is Priority.BACKFILL:
            give_up = min(give_up, started + self._backfill_wait)
        poll = FIRST_POLL[priority]
        listed = False
        try:
            while True:
                now = self._clock()
                state = self.store.read()
                if priority is Priority.BACKFILL:
                    pause = self.pause_for(state.quota, now)
                    if pause is not None:
                        raise BackfillDeferredError(pause.describe(), retry_in=pause.seconds_left(now), paused=True)
                held = {name: lease for name, lease in state.holders.items() if lease.until > now}
                others_waiting = {name: end for name, end in state.waiting.items() if end > now and name != holder}
                if len(held) < self.slots and (priority is Priority.LIVE or not others_waiting):
                    taken = {**held, holder: Lease(priority, until)}
                    if self.store.replace(taken, others_waiting, version=state.version):
                        listed = False  # the same write took this holder off the waiting list
                        record_slot_wait(priority, (self._clock() - started) * 1000)
                        return holder
                    continue  # another instance wrote first: look again at once
                if priority is Priority.LIVE and holder not in state.waiting:
                    # Say that a live call waits, so backfill calls leave the next free slot to it.
                    if self.store.replace(held, {**others_waiting, holder: until}, version=state.version):
                        listed = True
                    continue
                if now >= give_up:
                    raise self._gave_up(priority, now - started)
                self._sleep(poll * (0.5 + self._jitter()))
                poll = min(poll * 2, LAST_POLL[priority])
        except BaseException:
            if listed:
                self._release_quietly(holder, None)
            raise

    def release(self, holder: str, categorization: Categorization | None) -> None:
        """Give the slot back, with the quota Imagga reported on this call (if it answered)."""
        quota = None
        if categorization is not None and categorization.monthly_limit_remaining is not None:
            quota = Quota(categorization.monthly_limit_remaining, categorization.monthly_limit_reset, self._clock())
        self._release_quietly(holder, quota)

    def _release_quietly(self, holder: str, quota: Quota | None) -> None:
        try:
            self.store.release(holder, quota)
        except ModeratorError as exc:
            # The verdict does not depend on it: the lease ends with the invocation's deadline anyway.
            logger.warning("imagga slot not given back: it frees itself when its lease ends", extra={"error": str(exc)})

    def _gave_up(self, priority: Priority, waited: float) -> ModeratorError:
        if priority is Priority.BACKFILL:
            return BackfillDeferredError(
                f"no Imagga slot free for backfill work within {waited:.0f} s (live uploads first)",
                retry_in=max(self._backfill_wait, 30.0),
                paused=False,
            )
        return ImaggaBusyError(f"no slot of the Imagga budget came free within {waited:.0f} s, before the deadline")


class BudgetedCategorizer:
    """A Categorizer whose every call holds a slot of the shared budget, at the caller's priority.

    When the budget's table cannot be reached, a live call goes ahead without a slot (Imagga's own
    concurrency limit and the client's retries on 429 are the backstop: uploads keep being judged),
    while backfill work waits for the table to come back.
    """

    def __init__(self, inner: Categorizer, budget: SharedBudget) -> None:
        self.categorizer = inner.categorizer
        self._inner = inner
        self._budget = budget

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Deadline | None = None
    ) -> Categorization:
        priority = current_priority()
        try:
            holder = self._budget.acquire(priority, deadline)
        except BudgetStoreError as exc:
            record_error(exc.kind)
            if priority is Priority.BACKFILL:
                raise BackfillDeferredError(f"{exc}: backfill work waits", retry_in=60.0, paused=False) from exc
            logger.warning("imagga budget unreachable: this live call goes without a slot", extra={"error": str(exc)})
            return self._inner.categorize(image, content_type, deadline)
        result: Categorization | None = None
        try:
            result = self._inner.categorize(image, content_type, deadline)
            return result
        finally:
            self._budget.release(holder, result)
