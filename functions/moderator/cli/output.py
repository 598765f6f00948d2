"""Printing for people (rich tables) and for machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import click
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Keys are user input: print them as text, never as console markup.
        table.add_row(*(_plain(value) for value in row))
    console.print(table)


def format_scores(scores: Mapping[str, float]) -> str:
    return " ".join(f"{label}={value:.2f}" for label, value in scores.items())


def _plain(value: object) -> str:
    from rich.markup import escape

    return escape("" if value is None else str(value))
