"""Times as the project writes them: ISO 8601 in UTC, e.g. `2026-11-25T10:00:00.000Z`."""

from __future__ import annotations

from datetime import datetime


def epoch_seconds(when: str) -> float | None:
    """An ISO 8601 time with its zone (`Z` or an offset) as seconds since the epoch; None if it is not one."""
    try:
        parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo else None
