"""How the page writes sizes, counts and times: for people, not for parsers."""

from __future__ import annotations

from datetime import datetime

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(size: int | None) -> str:
    """1023 -> `1,023 bytes`, 1536 -> `1.5 KB`, 26214400 -> `25 MB` (units of 1,024, as S3's console counts)."""
    if size is None:
        return "—"
    if size < 1024:
        return f"{size:,} byte{'s' if size != 1 else ''}"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError("unreachable")


def grouped(number: int | float | None) -> str:
    """100000000 -> `100,000,000`."""
    if number is None:
        return "—"
    return f"{number:,.0f}"


def when(value: str | None) -> str:
    """An ISO 8601 time as `2026-03-01 09:00 UTC` (the text as given when it is not one)."""
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    zone = " UTC" if parsed.utcoffset() is not None else ""
    return parsed.strftime("%Y-%m-%d %H:%M") + zone
