"""The overview: the last 30 days of verdicts, Imagga calls and the plan's remaining calls, and the queues.

Figures come from the decisions ledger's `by-day` index: one query per day, each reading only the
verdict, the Imagga calls and the remaining count of that day's scans (a few dozen bytes each,
1 MB per call), so 30 days of a busy bucket stay a few dozen small reads. A count kept in the
ledger itself would be cheaper to read but would make the function write twice per object and
count a redelivered scan twice; the index counts each scan once, whatever happens to it later
(`verdict` is written once; a human's decision changes `status` only).

Charts are drawn here, as SVG shapes computed in Python and written out by the template: no
script, no library, nothing from elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ModeratorError
from ..model import Status

DAYS = 30
VERDICTS = (Status.SAFE, Status.REVIEW, Status.UNSAFE, Status.UNSUPPORTED, Status.ERROR)
#: CloudFormation outputs of the stack (template.yaml) naming its queues.
QUEUE_OUTPUT, BACKFILL_OUTPUT, DEAD_LETTER_OUTPUT = "QueueUrl", "BackfillQueueUrl", "DeadLetterQueueUrl"


@dataclass(frozen=True)
class Day:
    day: date
    counts: dict[str, int]
    imagga_calls: int
    #: The lowest Monthly-Limit-Remaining Imagga reported that day (its latest, within a month).
    limit_remaining: int | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def day_figures(day: date, items: Iterable[Mapping[str, Any]]) -> Day:
    counts = dict.fromkeys((str(verdict) for verdict in VERDICTS), 0)
    calls = 0
    remaining: list[int] = []
    for item in items:
        verdict = str(item.get("verdict", ""))
        if verdict in counts:
            counts[verdict] += 1
        calls += int(item.get("imagga_calls") or 0)
        if item.get("monthly_limit_remaining") is not None:
            remaining.append(int(item["monthly_limit_remaining"]))
    return Day(day, counts, calls, min(remaining) if remaining else None)


def last_days(today: date, count: int = DAYS) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


# --- queues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepth:
    name: str
    url: str
    waiting: int
    in_flight: int
    delayed: int


@dataclass
class Queues:
    """The ingest queue, the backfill queue (from the stack only) and the dead-letter queue both redrive
    to: URLs given, or read from the stack's outputs."""

    sqs: Callable[[], Any]
    cloudformation: Callable[[], Any]
    stack_name: str | None = None
    queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    backfill_queue_url: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.stack_name or self.queue_url or self.dead_letter_queue_url)

    def depths(self) -> tuple[list[QueueDepth], str | None]:
        """Each queue's depth, or why they could not be read (the page shows that instead)."""
        if not self.configured:
            return [], None
        try:
            urls = self._urls()
            client = self.sqs()
            return [self._depth(client, name, url) for name, url in urls if url], None
        except (ClientError, BotoCoreError, ModeratorError) as exc:
            return [], _why(exc)

    def _urls(self) -> list[tuple[str, str | None]]:
        queue, dead = self.queue_url, self.dead_letter_queue_url
        if self.stack_name and not (queue and dead):
            (described,) = self.cloudformation().describe_stacks(StackName=self.stack_name)["Stacks"]
            outputs = {out["OutputKey"]: out["OutputValue"] for out in described.get("Outputs", [])}
            queue, dead = queue or outputs.get(QUEUE_OUTPUT), dead or outputs.get(DEAD_LETTER_OUTPUT)
            # A stack of an older template has no backfill queue: the row is left out.
            self.backfill_queue_url = outputs.get(BACKFILL_OUTPUT)
            if not (queue or dead):
                raise ModeratorError(
                    f"the stack {self.stack_name} has no {QUEUE_OUTPUT} or {DEAD_LETTER_OUTPUT} output"
                )
            # Outputs do not change under a running page: asked once.
            self.queue_url, self.dead_letter_queue_url = queue, dead
        return [("Ingest queue", queue), ("Backfill queue", self.backfill_queue_url), ("Dead-letter queue", dead)]

    @staticmethod
    def _depth(client: Any, name: str, url: str) -> QueueDepth:
        wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        wanted.append("ApproximateNumberOfMessagesDelayed")
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=wanted)["Attributes"]
        return QueueDepth(
            name,
            url,
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


def _why(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


# --- the whole page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    days: list[Day]
    #: Scans waiting in Needs review, objects in quarantine (None: not known, see `notes`).
    waiting: int | None
    quarantined: int | None
    queues: list[QueueDepth] = field(default_factory=list)
    queue_problem: str | None = None
    queues_configured: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def verdict_chart(self) -> Chart:
        return stacked_bars(self.days)

    @property
    def calls_chart(self) -> Chart:
        return bars(self.days, [day.imagga_calls for day in self.days], "calls", "Imagga calls")

    @property
    def remaining_chart(self) -> Chart:
        return line(self.days, [day.limit_remaining for day in self.days], "Monthly-Limit-Remaining")

    @property
    def totals(self) -> dict[str, int]:
        return {str(verdict): sum(day.counts[str(verdict)] for day in self.days) for verdict in VERDICTS}

    @property
    def imagga_calls(self) -> int:
        return sum(day.imagga_calls for day in self.days)

    @property
    def limit_remaining(self) -> int | None:
        """The most recent day's remaining count."""
        known = [day.limit_remaining for day in self.days if day.limit_remaining is not None]
        return known[-1] if known else None


# --- charts -----------------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class Shape:
    """A rectangle (x, y, width, height), or a circle (x, y, r in width); its CSS class and hover text."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    title: str
    shapes: list[Shape]
    labels: list[Label]
    gridlines: list[float]
    #: A polyline's points ("x,y x,y ..."), one string per unbroken run.
    lines: list[str] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


def axis_top(value: float) -> float:
    """The top of an axis with four ticks at round steps (1, 2, 2.5 or 5 times a power of ten, at least 1)."""
    if value <= 4:
        return 4.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= quarter:
            return float(4 * step * power)
    return float(40 * power)


def _frame(days: list[Day], top: float, title: str) -> tuple[Chart, Callable[[float], float], float, float]:
    """Axes for `days` with values up to `top`: the chart so far, a y mapping, a column's x step and width."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days))

    def y(value: float) -> float:
        return TOP + plot_h - (value / top) * plot_h

    labels = [Label(LEFT - 6, y(top * n / 4) + 4, _number(top * n / 4), "end") for n in range(5)]
    for index, day in enumerate(days):
        if index % 5 == 0 or index == len(days) - 1:
            labels.append(Label(LEFT + step * (index + 0.5), HEIGHT - 8, day.day.strftime("%m-%d")))
    gridlines = [y(top * n / 4) for n in range(5)]
    return Chart(title, [], labels, gridlines), y, step, step * 0.72


def stacked_bars(days: list[Day]) -> Chart:
    top = axis_top(max((day.total for day in days), default=0))
    chart, y, step, width = _frame(days, top, "Verdicts per day")
    for index, day in enumerate(days):
        base = 0
        for verdict in VERDICTS:
            count = day.counts[str(verdict)]
            if not count:
                continue
            x = LEFT + step * index + (step - width) / 2
            title = f"{day.day.isoformat()}: {count} {verdict}"
            chart.shapes.append(Shape(x, y(base + count), width, y(base) - y(base + count), f"v-{verdict}", title))
            base += count
    return chart


def bars(days: list[Day], values: list[int], css: str, what: str) -> Chart:
    top = axis_top(max(values, default=0))
    chart, y, step, width = _frame(days, top, f"{what} per day")
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        if value:
            x = LEFT + step * index + (step - width) / 2
            title = f"{day.day.isoformat()}: {value} {what}"
            chart.shapes.append(Shape(x, y(value), width, y(0) - y(value), css, title))
    return chart


def line(days: list[Day], values: list[int | None], what: str) -> Chart:
    known = [value for value in values if value is not None]
    top = axis_top(max(known, default=0))
    chart, y, step, _ = _frame(days, top, f"{what} over time")
    run: list[str] = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        if value is None:
            if run:
                chart.lines.append(" ".join(run))
            run = []
            continue
        x = LEFT + step * (index + 0.5)
        run.append(f"{x:.1f},{y(value):.1f}")
        chart.shapes.append(Shape(x, y(value), 3.5, 0, "point", f"{day.day.isoformat()}: {value:,} remaining"))
    if run:
        chart.lines.append(" ".join(run))
    return chart


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"
