"""The review page's pure parts: scores as drawn, a list's filters read from a URL, sizes and chart axes."""

from __future__ import annotations

from datetime import date

import pytest

from moderator.policy import Thresholds
from moderator.web.formatting import grouped, human_size, when
from moderator.web.overview import axis_top, day_figures, stacked_bars
from moderator.web.rows import ListQuery, page_bounds
from moderator.web.scores import deciding_label, parse_score, score_views


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91.40", 91.4),
        ("0", 0.0),
        ("100", 100.0),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("-50", None),
        ("100.01", None),
        ("1e308", None),
        ("9" * 309, None),
        ("abc", None),
        ("", None),
    ],
)
def test_only_a_finite_percentage_is_a_score(raw: str, expected: float | None) -> None:
    assert parse_score(raw) == expected


def test_unsafe_labels_grow_red_towards_their_threshold_and_safe_grows_green() -> None:
    # GIVEN the scores of an UNSAFE verdict under thresholds 20 (unsafe) and 50 (review)
    views = score_views(
        {"safe": "2.50", "nsfw": "91.40", "underwear": "6.10", "racy": "3"},
        categorizer="nsfw_beta",
        status="UNSAFE",
        reason=None,
        thresholds=Thresholds(unsafe=20, review=50),
    )

    # WHEN they are made ready to draw / THEN in the categorizer's order, unknown labels last
    by_label = {view.label: view for view in views}
    assert [view.label for view in views] == ["nsfw", "underwear", "safe", "racy"]
    # AND each meter's regions follow what its label means: worst past the label's own threshold
    assert (by_label["nsfw"].meaning, by_label["nsfw"].high, by_label["nsfw"].optimum) == ("unsafe", 20, 0)
    assert (by_label["underwear"].meaning, by_label["underwear"].high) == ("unsafe", 50)
    assert (by_label["safe"].meaning, by_label["safe"].optimum) == ("safe", 100)
    assert by_label["racy"].meaning == "other"
    # AND only the label that decided is marked
    assert [view.label for view in views if view.deciding] == ["nsfw"]


def test_an_invalid_score_is_shown_as_invalid_with_a_short_excerpt() -> None:
    (view,) = score_views(
        {"nsfw": "9" * 309}, categorizer="nsfw_beta", status="UNSAFE", reason=None, thresholds=Thresholds()
    )
    assert (view.valid, view.shown) == (False, "invalid")
    assert view.excerpt == "99999999999…" and len(view.excerpt) == 12
    assert len(view.title) == 120


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("UNSAFE", None, "nsfw"),
        ("REVIEW", None, "underwear"),
        ("SAFE", None, "nsfw"),
        ("UNSAFE", "rejected-before", None),
        ("UNSAFE", "matches-rejected", None),
        ("ERROR", "imagga-rejected", None),
        ("APPROVED", None, None),
    ],
)
def test_the_deciding_label_is_the_one_policy_decided_by(status: str, reason: str | None, expected: str | None) -> None:
    assert deciding_label("nsfw_beta", status, reason) == expected


def test_a_lists_filters_are_read_leniently_and_garbage_is_ignored_not_an_error() -> None:
    # GIVEN a URL's arguments, some not understood
    query = ListQuery.from_args(
        {"page": "garbage", "status": "unsafe", "prefix": "cats/", "from": "2026-03-05", "to": "2026-03-01"},
        statuses=("UNSAFE",),
    )
    nonsense = ListQuery.from_args({"page": "-3", "status": "DROP TABLE", "from": "2026-02-30"}, statuses=("UNSAFE",))

    # THEN the page is the first, the status is known in any case, reversed dates are swapped
    assert (query.page, query.status, query.prefix) == (1, "UNSAFE", "cats/")
    assert (query.since, query.until) == (date(2026, 3, 1), date(2026, 3, 5))
    assert query.args(page=2) == {
        "status": "UNSAFE",
        "prefix": "cats/",
        "from": "2026-03-01",
        "to": "2026-03-05",
        "page": "2",
    }
    # AND what is not understood is left out and listed
    assert (nonsense.page, nonsense.status, nonsense.since) == (1, None, None)
    assert nonsense.ignored == ("status 'DROP TABLE'", "from date '2026-02-30' (use YYYY-MM-DD)")


@pytest.mark.parametrize(
    ("requested", "count", "expected"),
    [(1, 0, (1, 1, 0)), (3, 12, (3, 3, 10)), (99, 12, (3, 3, 10)), (2, 5, (1, 1, 0))],
)
def test_a_page_past_the_last_is_the_last(requested: int, count: int, expected: tuple[int, int, int]) -> None:
    assert page_bounds(requested, count, 5) == expected


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "—"),
        (1, "1 byte"),
        (1023, "1,023 bytes"),
        (1536, "1.5 KB"),
        (25 * 1024**2, "25 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_sizes_are_written_in_kb_and_mb(size: int | None, shown: str) -> None:
    assert human_size(size) == shown


def test_counts_and_times_are_written_for_people() -> None:
    assert grouped(100_000_000) == "100,000,000"
    assert when("2026-03-01T09:05:59.123Z") == "2026-03-01 09:05 UTC"
    assert when("not a time") == "not a time"


@pytest.mark.parametrize(("largest", "top"), [(0, 4), (3, 4), (5, 8), (990, 1000), (12_345, 20_000)])
def test_chart_axes_end_on_round_numbers_with_whole_steps(largest: int, top: int) -> None:
    assert axis_top(largest) == top


def test_a_days_bars_stack_each_verdict_in_proportion() -> None:
    # GIVEN a day with two UNSAFE and one SAFE scan, and an empty day
    busy = day_figures(date(2026, 3, 2), [{"verdict": "UNSAFE"}, {"verdict": "UNSAFE"}, {"verdict": "SAFE"}])
    quiet = day_figures(date(2026, 3, 1), [])

    # WHEN the chart is drawn
    chart = stacked_bars([quiet, busy])

    # THEN the busy day has one bar per verdict, UNSAFE twice as tall as SAFE, each with its count as title
    by_class = {shape.css: shape for shape in chart.shapes}
    assert set(by_class) == {"v-SAFE", "v-UNSAFE"}
    assert by_class["v-UNSAFE"].height == pytest.approx(2 * by_class["v-SAFE"].height)
    assert by_class["v-UNSAFE"].title == "2026-03-02: 2 UNSAFE"
