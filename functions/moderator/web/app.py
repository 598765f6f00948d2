"""The review page: a small Flask app, server-rendered, for a moderator on their own machine.

Safe by construction rather than by care at each use: Jinja autoescapes every value (object
keys are user input), every form carries a CSRF token (Flask-WTF) and cross-origin POSTs are
refused outright, the Host header must name this machine or a name the operator allowed (no
DNS rebinding), images are proxied as re-encoded thumbnails (the page never holds an S3 URL, a
signature or a key), a Content-Security-Policy allows only this app's own script and style,
and a URL to check is fetched under the rules of `cli.fetch` with one neutral error for every
failure (the page is no port scanner of the moderator's network).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, SecurityError

from ..errors import (
    ImaggaCredentialsError,
    ModeratorError,
    ObjectChangedError,
    ObjectGoneError,
    SettingsError,
)
from ..imaging import UnsupportedImageError
from ..model import Status
from ..policy import REVIEW_LABEL, UNSAFE_LABEL
from ..review import REJECTED, NotQuarantinedError, StaleReviewError
from .service import NotConfiguredError, ReviewService, Target

#: Lists an Approve or Reject returns to; anything else falls back to the first.
LISTS = ("review_list", "quarantine_list")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: The one answer to every failed URL check: which failure it was would map the moderator's network.
URL_NOT_FETCHED = "Could not fetch an image from that URL."
SHA256 = re.compile(r"[0-9a-f]{64}")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Credentials that exist but that AWS refused.
REJECTED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken", "InvalidToken"}
)
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "403", "AllAccessDisabled"})


class BeyondLoopbackError(ValueError):
    """Listening beyond this machine without naming the host names the page may be opened at."""


def create_app(
    service: ReviewService,
    *,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    secret_key: bytes | None = None,
) -> Flask:
    """The page for a server bound to `host`; beyond loopback, `allowed_hosts` must name how it is reached."""
    trusted = trusted_hosts(host, allowed_hosts)
    app = Flask(__name__)
    settings = service.settings()
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        SESSION_COOKIE_NAME="review_session",
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        # An uploaded image larger than the function would accept is refused before it is read.
        MAX_CONTENT_LENGTH=settings.max_image_bytes + 64 * 1024,
    )
    app.extensions["review_service"] = service

    @app.before_request
    def refuse_unknown_hosts() -> Any:
        # First of all: a page of another site whose name resolves here (DNS rebinding) names itself
        # in Host. Werkzeug's TRUSTED_HOSTS cannot match an IPv6 literal, so the check is made here.
        if _host_name(request.host) not in trusted:
            return _unknown_host()
        return None

    @app.before_request
    def refuse_cross_origin_posts() -> None:
        # Runs before the CSRF check: a browser names the page a form was posted from.
        if request.method != "POST":
            return
        origin = request.headers.get("Origin")
        if request.headers.get("Sec-Fetch-Site") == "cross-site" or (origin and not _same_origin(origin)):
            abort(403, description="cross-origin form posts are refused")

    CSRFProtect(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # Not no-referrer: that would make the browser send `Origin: null` on our own forms.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def page_context() -> dict[str, Any]:
        return {"bucket": service.bucket}

    @app.get("/")
    def index() -> Any:
        return redirect(url_for("check"))

    @app.route("/check", methods=["GET", "POST"])
    def check() -> Any:
        current = service.settings()
        context: dict[str, Any] = {
            "active": "check",
            "thresholds": current.thresholds,
            "unsafe_label": UNSAFE_LABEL[current.categorizer],
            "review_label": REVIEW_LABEL[current.categorizer],
        }
        if request.method == "GET":
            return render_template("check.html", **context)
        source, data, problem = _submitted_image(service, current.max_image_bytes)
        if problem:
            return render_template("check.html", problem=problem, **context), 400
        assessment, preview = service.check(data)
        context.update(
            source=source,
            verdict=assessment.verdict,
            detail=assessment.detail,
            preview=_data_uri(preview.data, preview.content_type) if preview else None,
        )
        return render_template("check.html", **context)

    @app.get("/review")
    def review_list() -> Any:
        page = service.needs_review(request.args.get("page"))
        return render_template("items.html", active="review", page=page, back="review_list")

    @app.get("/quarantine")
    def quarantine_list() -> Any:
        page = service.quarantine(request.args.get("page"))
        return render_template("items.html", active="quarantine", page=page, back="quarantine_list")

    @app.get("/thumbnail")
    def thumbnail() -> Any:
        target = _target(request.args)
        try:
            image = service.thumbnail(target.bucket, target.key, target.version_id)
        except UnsupportedImageError:
            return Response("no preview", status=415, mimetype="text/plain")
        response = Response(image.data, mimetype=image.content_type)
        response.headers["Cache-Control"] = "private, max-age=60"
        return response

    @app.post("/approve")
    def approve() -> Any:
        decision = service.approve(_target(request.form))
        flash(f"Approved: s3://{decision.bucket}/{decision.key} is back as {Status.APPROVED}.", "success")
        return redirect(url_for(_back(request.form.get("back"))), code=303)

    @app.route("/reject", methods=["GET", "POST"])
    def reject() -> Any:
        source = request.args if request.method == "GET" else request.form
        target = _target(source)
        back = _back(source.get("back"))
        if request.method == "GET":
            item = service.describe(target)
            return render_template("reject.html", active=None, item=item, back=back)
        decision = service.reject(target)
        flash(f"{REJECTED}: s3://{decision.bucket}/{decision.key} was deleted (the version you saw).", "success")
        return redirect(url_for(back), code=303)

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> Any:
        message = "The form was refused: its security token is missing or expired. Reload the page and try again."
        return _error_page("Form refused", message, 400)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        limit = service.settings().max_image_bytes
        return _error_page("Too large", f"The upload is over the limit of {limit} bytes.", 413)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if isinstance(exc, SecurityError):
            return _unknown_host()  # a Host header werkzeug finds malformed
        title = "Refused" if exc.code == 403 else (exc.name or "Error")
        return _error_page(title, str(exc.description or exc.name), exc.code or 500)

    @app.errorhandler(ModeratorError)
    @app.errorhandler(BotoCoreError)
    @app.errorhandler(ClientError)
    @app.errorhandler(NotQuarantinedError)
    def expected_error(exc: Exception) -> Any:
        title, message, status = explain(exc)
        return _error_page(title, message, status)

    return app


def explain(exc: BaseException) -> tuple[str, str, int]:
    """An expected failure as a title, a message the operator can act on, and an HTTP status."""
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, NoCredentialsError):
            return (
                "No AWS credentials",
                "The review page uses your own AWS credentials and found none: set AWS_PROFILE "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and start it again.",
                503,
            )
        if isinstance(cause, NoRegionError):
            return "No AWS region", "Set AWS_REGION (or pass --region) and start the review page again.", 503
        if isinstance(cause, ClientError):
            code = str(cause.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket":
                bucket = cause.response.get("Error", {}).get("BucketName", "")
                return "Bucket missing", f"The bucket {bucket or 'named'} does not exist (check --bucket).", 404
            if code == "ResourceNotFoundException":
                return "Table missing", f"A DynamoDB table the page needs does not exist: {exc}", 404
            if code in REJECTED_CREDENTIALS:
                return "Credentials rejected", f"AWS refused your credentials ({code}): refresh them.", 403
            if code in ACCESS_DENIED:
                return "Access denied", f"Your AWS identity may not do this: {exc}", 403
    if isinstance(exc, NotConfiguredError | SettingsError | ImaggaCredentialsError):
        return "Not configured", str(exc), 503
    if isinstance(exc, ObjectGoneError):
        return "Not there any more", f"The object is gone (someone else decided, or it was deleted): {exc}", 404
    if isinstance(exc, StaleReviewError):
        return "Changed since you looked", f"{exc}. Reload the list to see the object as it is now.", 409
    if isinstance(exc, ObjectChangedError):
        return "Changed meanwhile", f"The object changed while you looked at it: {exc}", 409
    if isinstance(exc, NotQuarantinedError):
        return "Not in quarantine", str(exc), 400
    if "does not exist" in str(exc):
        return "Bucket missing", str(exc), 404
    if "denied" in str(exc):
        return "Access denied", str(exc), 403
    return "Something failed", str(exc), 502


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _unknown_host() -> Response:
    """No page (its links would need that host), one line of text."""
    return Response(
        "Refused: unknown host name. Open the page at the address the command printed.", 400, mimetype="text/plain"
    )


def _error_page(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("error.html", active=None, title=title, message=message), status


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def trusted_hosts(host: str, allowed_hosts: Iterable[str] = ()) -> frozenset[str]:
    """The host names a request may name: loopback's, the bound address's, and the ones the operator allowed.

    Bound beyond loopback, the allowed names are required: without them any site whose name
    resolves to this machine could drive the page from the moderator's browser.
    """
    allowed = {_host_name(name) for name in allowed_hosts if name.strip()}
    if not is_loopback(host) and not allowed:
        raise BeyondLoopbackError(
            f"--host {host} listens beyond this machine: name the host names the page is opened at with "
            "--allowed-host (repeatable), e.g. --allowed-host review.example.internal"
        )
    names = {*LOOPBACK_NAMES, *allowed}
    try:
        bound = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        names.add(_host_name(host))  # a name the operator bound to
    else:
        if not bound.is_unspecified:
            names.add(str(bound))  # an address literal cannot be rebound to another site
    return frozenset(names)


def _host_name(host: str) -> str:
    """`Example.COM:8080` -> `example.com`, `[::1]:8080` -> `::1`: what a Host header names, port aside."""
    try:
        name = urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return ""
    return name or ""


def _same_origin(origin: str) -> bool:
    theirs = urlsplit(origin)
    ours = urlsplit(request.host_url)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def _target(source: Any) -> Target:
    """The object a form or link names, with what the moderator saw of it (version, ETag, SHA-256)."""
    bucket, key = source.get("bucket", ""), source.get("key", "")
    if not bucket or not key:
        abort(400, description="which object? (bucket and key are required)")
    version_id = source.get("version_id", "").strip() or None
    etag = source.get("etag", "").strip().strip('"') or None
    sha256 = source.get("sha256", "").strip().lower() or None
    if sha256 is not None and not SHA256.fullmatch(sha256):
        abort(400, description="sha256 must be 64 hexadecimal characters")
    if (version_id and len(version_id) > 1024) or (etag and len(etag) > 256):
        abort(400, description="version_id or etag is too long")
    return Target(str(bucket), str(key), version_id, etag, sha256)


def _back(name: str | None) -> str:
    return name if name in LISTS else LISTS[0]


def _submitted_image(service: ReviewService, max_bytes: int) -> tuple[str, bytes, str | None]:
    """The uploaded file, else the URL's image; or why there is none."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.filename, upload.read(), None
    url = request.form.get("url", "").strip()
    if not url:
        return "", b"", "Choose an image file or paste an image URL."
    if not url.startswith(("http://", "https://")):
        return url, b"", "The URL must start with http:// or https://."
    try:
        return url, service.url_fetcher.fetch(url, max_bytes), None
    except ModeratorError:
        # Refused address, refused connection, timeout, HTTP status, too large: all the same answer.
        return url, b"", URL_NOT_FETCHED


def _data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"
