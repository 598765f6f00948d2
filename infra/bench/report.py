"""Formatting of benchmark figures: one table on the terminal, the same in docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    # The machine may be shared: its load when the report is written says how much to trust the figures.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, "
        f"{platform.system()} {platform.release()}, {datetime.now(UTC):%Y-%m-%d}, "
        f"load average {load} (1, 5, 15 min) at the end of the run"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: readable in a terminal and rendered in the README's link."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def goal(value: float, limit: float, *, below: bool = True) -> str:
    met = value < limit if below else value >= limit
    return "met" if met else "NOT met"
