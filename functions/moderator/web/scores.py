"""Scores as a moderator reads them: coloured by what each label means, the deciding one marked.

A score comes from a tag (text anyone with tagging rights could have written) or from the
ledger (a number the function stored). Only a finite number from 0 to 100 is drawn; anything
else (`nan`, `inf`, `-50`, `1e308`, `abc`) is shown as invalid with a short excerpt of the text,
so no value can print as `nan%` or stretch the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .. import tags
from ..model import Status
from ..policy import CATEGORIZER_LABELS, REVIEW_LABEL, UNSAFE_LABEL, Thresholds

#: What a label says about an image: the more `unsafe`, the worse; the more `safe`, the better.
UNSAFE, SAFE, OTHER = "unsafe", "safe", "other"
SAFE_LABELS = frozenset({"safe"})
#: Reasons the verdict came from a human's earlier decision, not from a label (content memory).
MEMORY_REASONS = frozenset({"rejected-before", "matches-rejected"})
#: At most this much of an invalid score's text is shown (the whole text on hover, up to TITLE_CHARS).
EXCERPT_CHARS = 12
TITLE_CHARS = 120


@dataclass(frozen=True)
class Score:
    """One label's score, ready to draw: a meter whose colour regions follow the label's meaning."""

    label: str
    raw: str
    value: float | None
    meaning: str
    deciding: bool
    low: float
    high: float
    optimum: float

    @property
    def valid(self) -> bool:
        return self.value is not None

    @property
    def shown(self) -> str:
        return f"{self.value:.2f}%" if self.value is not None else "invalid"

    @property
    def excerpt(self) -> str:
        text = self.raw.strip()
        return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"

    @property
    def title(self) -> str:
        text = self.raw.strip()
        return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def parse_score(raw: object) -> float | None:
    """A percentage, or None: not a number, not finite, or outside 0-100."""
    try:
        value = float(str(raw).strip())
    except ValueError:
        return None
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        return None
    return value


def meaning_of(label: str, categorizer: str | None) -> str:
    """`unsafe` for labels that make an image doubtful, `safe` for the safe label, `other` for unknown ones."""
    if label in SAFE_LABELS:
        return SAFE
    known = CATEGORIZER_LABELS.get(categorizer or "", ())
    if label in known or any(label in labels for labels in CATEGORIZER_LABELS.values()):
        return UNSAFE
    return OTHER


def deciding_label(categorizer: str | None, status: str | None, reason: str | None) -> str | None:
    """The label whose score decided the verdict, as `policy.decide` chose it; None when no label did."""
    if categorizer not in UNSAFE_LABEL or reason in MEMORY_REASONS:
        return None
    if status in (Status.UNSAFE, Status.SAFE):
        return UNSAFE_LABEL[categorizer]
    if status == Status.REVIEW:
        return REVIEW_LABEL[categorizer]
    return None


def score_views(
    values: Mapping[str, object],
    *,
    categorizer: str | None,
    status: str | None,
    reason: str | None,
    thresholds: Thresholds,
) -> tuple[Score, ...]:
    """Every score in the categorizer's label order (unknown labels after, by name)."""
    deciding = deciding_label(categorizer, status, reason)
    order = CATEGORIZER_LABELS.get(categorizer or "", ())
    labels = [label for label in order if label in values]
    labels += sorted(label for label in values if label not in order)
    return tuple(_score(label, values[label], categorizer, deciding, thresholds) for label in labels)


def scores_from_tags(tag_set: Mapping[str, str]) -> dict[str, str]:
    """The score tags an object carries, by label, as written (invalid ones included)."""
    ours = tags.ours_only(dict(tag_set))
    return {name.removeprefix(tags.PREFIX): value for name, value in ours.items() if name not in tags.NOT_SCORES}


def _score(label: str, raw: object, categorizer: str | None, deciding: str | None, thresholds: Thresholds) -> Score:
    meaning = meaning_of(label, categorizer)
    value = parse_score(raw)
    if meaning == SAFE:
        # The more it says safe, the greener: the optimum is 100.
        low, high, optimum = 50.0, 80.0, 100.0
    elif meaning == UNSAFE:
        # Red deepens towards the threshold at which this label changes a verdict.
        threshold = thresholds.unsafe if label in UNSAFE_LABEL.values() else thresholds.review
        low, high, optimum = threshold / 2, threshold, 0.0
    else:
        low, high, optimum = 100.0, 100.0, 0.0
    text = raw if isinstance(raw, str) else (f"{raw:.2f}" if isinstance(raw, float) and value is not None else str(raw))
    return Score(label, text, value, meaning, label == deciding, low, high, optimum)
