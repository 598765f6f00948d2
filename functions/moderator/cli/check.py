"""`check PATH_OR_URL`: one image's scores and verdict."""

from __future__ import annotations

import click
from rich.markup import escape

from ..assessment import Assessment, assess
from ..model import Status
from .output import console, format_scores, print_json, print_table
from .runtime import Runtime, with_runtime


def assessment_json(source: str, assessment: Assessment, runtime: Runtime) -> dict[str, object]:
    verdict = assessment.verdict
    thresholds = runtime.settings.thresholds
    return {
        "source": source,
        "status": str(verdict.status),
        "reason": verdict.reason,
        "detail": assessment.detail,
        "scores": verdict.scores,
        "categorizer": verdict.categorizer,
        "thresholds": {"unsafe": thresholds.unsafe, "review": thresholds.review},
    }


@click.command()
@click.argument("source", metavar="PATH_OR_URL")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--allow-private-urls",
    is_flag=True,
    help="Let a URL reach loopback, link-local and private addresses (refused by default).",
)
@with_runtime
def check(runtime: Runtime, source: str, as_json: bool, allow_private_urls: bool) -> None:
    """Categorize one image: a local file, an http(s) URL or s3://bucket/key.

    A URL is fetched within 30 seconds in all, from public addresses only (every redirect too).
    """
    from .fetch import UrlFetcher
    from .main import EXIT_NOT_AN_IMAGE, ExpectedError
    from .sources import read_source

    settings = runtime.settings
    fetcher = UrlFetcher(allow_private=allow_private_urls)
    data = read_source(source, runtime, settings.max_image_bytes, fetcher=fetcher)
    assessment = assess(data, runtime.imagga, settings)
    verdict = assessment.verdict
    if verdict.status is Status.UNSUPPORTED:
        raise ExpectedError(f"{source}: not checked ({verdict.reason}: {assessment.detail})", EXIT_NOT_AN_IMAGE)
    if as_json:
        print_json(assessment_json(source, assessment, runtime))
        return
    print_table(source, ("label", "confidence %"), ((k, f"{v:.2f}") for k, v in verdict.scores.items()))
    console.print(f"verdict: [bold]{verdict.status}[/bold]  ({escape(format_scores(verdict.scores))})")
