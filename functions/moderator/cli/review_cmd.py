"""`review`: the review page on 127.0.0.1, with the operator's own AWS credentials."""

from __future__ import annotations

import logging

import click
from werkzeug.serving import make_server

from ..web.service import ReviewService
from .fetch import UrlFetcher
from .output import console
from .runtime import Runtime, now_utc, with_runtime


def review_service(
    runtime: Runtime, bucket: str | None, page_size: int = 20, *, allow_private_urls: bool = False
) -> ReviewService:
    """The page's collaborators, from the command's runtime (endpoint, region, environment)."""
    return ReviewService(
        storage=runtime.storage,
        s3=runtime.s3,
        settings=lambda: runtime.storage_settings,
        # Built on first use: the lists work without Imagga credentials, only `check` needs them.
        categorizer=lambda: runtime.imagga,
        reviewer=runtime.caller_identity,
        clock=now_utc,
        dynamodb=lambda: runtime.client("dynamodb"),
        bucket=bucket,
        page_size=page_size,
        url_fetcher=UrlFetcher(allow_private=allow_private_urls),
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
@click.option("--page-size", default=20, show_default=True, type=click.IntRange(1, 200))
@with_runtime
def review(
    runtime: Runtime,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    allow_private_urls: bool,
    bucket: str | None,
    page_size: int,
) -> None:
    """Start the review page: check an image, see REVIEW and quarantined objects, approve or reject them.

    Approve and Reject use the same code as `quarantine release` / `purge` and record you (your
    AWS identity) in the decisions ledger (DECISIONS_TABLE). The page answers only requests for
    this machine's loopback names, the address it listens on, and every --allowed-host.
    """
    from ..web.app import BeyondLoopbackError, create_app, is_loopback  # Flask only for this command
    from .main import EXIT_SETUP, ExpectedError

    service = review_service(runtime, bucket, page_size, allow_private_urls=allow_private_urls)
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
