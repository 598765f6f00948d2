"""The verdict: from Imagga's scores to SAFE / REVIEW / UNSAFE. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Status, Verdict

#: The labels each categorizer defines, the label that makes an image UNSAFE and the one that
#: sends it to REVIEW. Decisions use label names, never list positions.
CATEGORIZER_LABELS: dict[str, tuple[str, ...]] = {
    "nsfw_beta": ("nsfw", "underwear", "safe"),
    "adult_content": ("explicit", "suggestive", "safe"),
}
UNSAFE_LABEL = {"nsfw_beta": "nsfw", "adult_content": "explicit"}
REVIEW_LABEL = {"nsfw_beta": "underwear", "adult_content": "suggestive"}


@dataclass(frozen=True)
class Thresholds:
    """Percentages, 0 to 100. A score equal to a threshold meets it."""

    unsafe: float = 20.0
    review: float = 50.0


def complete_scores(categorizer: str, scores: dict[str, float]) -> dict[str, float]:
    """Every label the categorizer defines (absent ones at 0) plus any unknown labels Imagga sent."""
    completed = dict.fromkeys(CATEGORIZER_LABELS.get(categorizer, ()), 0.0)
    completed.update(scores)
    return completed


def decide(categorizer: str, scores: dict[str, float], thresholds: Thresholds) -> Verdict:
    """UNSAFE when the unsafe label meets its threshold, else REVIEW when the review label does."""
    completed = complete_scores(categorizer, scores)
    unsafe_label = UNSAFE_LABEL[categorizer]
    review_label = REVIEW_LABEL[categorizer]
    if completed[unsafe_label] >= thresholds.unsafe:
        status, deciding = Status.UNSAFE, unsafe_label
    elif completed[review_label] >= thresholds.review:
        status, deciding = Status.REVIEW, review_label
    else:
        # A SAFE verdict is decided by the unsafe label staying under its threshold.
        status, deciding = Status.SAFE, unsafe_label
    return Verdict(status=status, scores=completed, categorizer=categorizer, deciding_label=deciding)
