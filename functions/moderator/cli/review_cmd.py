"""`review`: the review page on 127.0.0.1, with the operator's own AWS credentials."""

from __future__ import annotations

import logging

import click
from werkzeug.serving import make_server

from ..web.service import ReviewService
from .output import console
from .runtime import Runtime, now_utc, with_runtime


def review_service(runtime: Runtime, bucket: str | None, page_size: int = 20) -> ReviewService:
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
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--bucket", envvar="MODERATION_BUCKET", help="The moderated bucket (its quarantine is listed).")
@click.option("--page-size", default=20, show_default=True, type=click.IntRange(1, 200))
@with_runtime
def review(runtime: Runtime, host: str, port: int, bucket: str | None, page_size: int) -> None:
    """Start the review page: check an image, see REVIEW and quarantined objects, approve or reject them.

    Approve and Reject use the same code as `quarantine release` / `purge` and record you (your
    AWS identity) in the decisions ledger (DECISIONS_TABLE).
    """
    from ..web.app import create_app  # Flask only for this command

    service = review_service(runtime, bucket, page_size)
    runtime.storage_settings  # fail fast on configuration  # noqa: B018
    app = create_app(service, host=host)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"review page: http://{shown}:{server.port}/  (Ctrl-C to stop)", markup=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print("warning: listening beyond this machine; anyone who reaches it acts with your AWS identity")
    try:
        server.serve_forever()
    finally:
        server.server_close()
