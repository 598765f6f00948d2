"""`review`: the review page on 127.0.0.1, with the operator's own AWS credentials."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import boto3
import click
from botocore.config import Config
from werkzeug.serving import make_server

from ..storage import S3Storage
from ..web.overview import Queues
from ..web.service import WORKERS, RejectedImages, ReviewService
from ..wiring import AWS_CONFIG
from .fetch import UrlFetcher
from .output import console
from .runtime import Runtime, now_utc, with_runtime


def review_service(
    runtime: Runtime,
    bucket: str | None,
    page_size: int = 20,
    *,
    allow_private_urls: bool = False,
    queues: Queues | None = None,
    memory: RejectedImages | None = None,
) -> ReviewService:
    """The page's collaborators, from the command's runtime (endpoint, region, environment)."""
    s3 = page_client(runtime, "s3")
    return ReviewService(
        storage=S3Storage(s3),
        s3=s3,
        settings=lambda: runtime.storage_settings,
        # Built on first use: the lists work without Imagga credentials, only `check` needs them.
        categorizer=lambda: runtime.imagga,
        reviewer=runtime.caller_identity,
        clock=now_utc,
        dynamodb=_once(lambda: page_client(runtime, "dynamodb")),
        bucket=bucket,
        page_size=page_size,
        url_fetcher=UrlFetcher(allow_private=allow_private_urls),
        memory=memory,
        queues=queues,
    )


def page_client(runtime: Runtime, name: str) -> Any:
    """A client whose connection pool holds the page's concurrent calls (botocore keeps 10 by default)."""
    config = AWS_CONFIG.merge(Config(max_pool_connections=WORKERS + 14))
    return boto3.client(  # type: ignore[call-overload]
        name, config=config, endpoint_url=runtime.endpoint_for(name), region_name=runtime.region
    )


def _once(make: Callable[[], Any]) -> Callable[[], Any]:
    """Made on first use (the lists work without a table), then kept: a client per call costs ~20 ms."""
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(make())
        return made[0]

    return get


def stack_queues(runtime: Runtime, stack_name: str | None, queue_url: str | None, dlq_url: str | None) -> Queues:
    """The overview's queues: URLs given, or the stack's `QueueUrl` / `DeadLetterQueueUrl` outputs."""
    return Queues(
        sqs=lambda: runtime.client("sqs"),
        cloudformation=lambda: runtime.client("cloudformation"),
        stack_name=stack_name,
        queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (::1 for IPv6).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name the page may be opened at (repeatable); required with a --host beyond loopback.",
)
@click.option(
    "--allow-private-urls",
    is_flag=True,
    help="Let 'Check an image' fetch from loopback, link-local and private addresses (refused by default).",
)
@click.option("--bucket", envvar="MODERATION_BUCKET", help="The moderated bucket (its quarantine is listed).")
@click.option("--page-size", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--stack-name",
    envvar="STACK_NAME",
    help="The deployed stack: the overview reads its queues' URLs from the stack's outputs.",
)
@click.option("--queue-url", help="The ingest queue's URL (instead of --stack-name), for the overview.")
@click.option("--dead-letter-queue-url", help="The dead-letter queue's URL (instead of --stack-name).")
@with_runtime
def review(
    runtime: Runtime,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    allow_private_urls: bool,
    bucket: str | None,
    page_size: int,
    stack_name: str | None,
    queue_url: str | None,
    dead_letter_queue_url: str | None,
) -> None:
    """Start the review page: an overview, check an image, see REVIEW and quarantined objects, decide on them.

    Approve and Reject use the same code as `quarantine release` / `purge` and record you (your
    AWS identity) in the decisions ledger (DECISIONS_TABLE). The page answers only requests for
    this machine's loopback names, the address it listens on, and every --allowed-host.
    """
    from ..web.app import BeyondLoopbackError, create_app, is_loopback  # Flask only for this command
    from .main import EXIT_SETUP, ExpectedError

    queues = stack_queues(runtime, stack_name, queue_url, dead_letter_queue_url)
    service = review_service(runtime, bucket, page_size, allow_private_urls=allow_private_urls, queues=queues)
    runtime.storage_settings  # fail fast on configuration  # noqa: B018
    try:
        app = create_app(service, host=host, allowed_hosts=allowed_hosts)
    except BeyondLoopbackError as exc:
        raise ExpectedError(str(exc), EXIT_SETUP) from exc
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"review page: http://{shown}:{server.port}/  (Ctrl-C to stop)", markup=False)
    if not is_loopback(host):
        console.print(
            "warning: listening beyond this machine; anyone who reaches it acts with your AWS identity "
            f"(host names allowed: {', '.join(allowed_hosts)})",
            markup=False,
        )
    try:
        server.serve_forever()
    finally:
        server.server_close()
