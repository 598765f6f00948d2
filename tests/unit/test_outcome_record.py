"""An outcome kept by the idempotency layer comes back with what its verdict cost at Imagga."""

from __future__ import annotations

from decimal import Decimal

from moderator.model import Action, ObjectRef, Outcome, Status


def test_an_outcome_stored_and_read_back_keeps_its_imagga_calls_and_the_plans_remaining_count() -> None:
    # GIVEN the outcome of a verdict that took Imagga three requests (two retries)
    ref = ObjectRef("photos", "in/a.jpg", "v1", "etag")
    judged = Outcome(
        ref=ref,
        action=Action.TAGGED,
        status=Status.REVIEW,
        scanned_at="2026-03-01T09:00:00.000Z",
        imagga_attempts=3,
        imagga_retries=2,
        imagga_latency_ms=812.5,
        monthly_limit_remaining=4321,
    )

    # WHEN it is stored as the idempotency layer stores it (DynamoDB gives numbers back as Decimal) and read back
    stored = {
        name: Decimal(str(value)) if isinstance(value, int | float) else value
        for name, value in judged.to_dict().items()
    }
    restored = Outcome.from_dict(ref, stored)

    # THEN the figures the metrics and the decisions ledger report are the judged ones, not zero
    assert (restored.imagga_attempts, restored.imagga_retries) == (3, 2)
    assert restored.imagga_latency_ms == 812.5
    assert restored.monthly_limit_remaining == 4321
