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
import hashlib
import ipaddress
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from flask import Flask, Response, abort, flash, g, redirect, render_template, request, url_for
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
from ..ledger import DISMISSED
from ..model import Status
from ..policy import REVIEW_LABEL, UNSAFE_LABEL
from ..review import REJECTED, NotQuarantinedError, StaleReviewError
from . import forms
from .formatting import grouped, human_size, when
from .forms import encoded
from .rows import Decision, ListQuery, Target
from .scores import score_views
from .service import MAX_BULK, NotConfiguredError, Outcome, ReviewService, StillThereError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: The one answer to every failed URL check: which failure it was would map the moderator's network.
URL_NOT_FETCHED = "Could not fetch an image from that URL."
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
    def start_clock() -> None:
        g.started = time.perf_counter()

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
        if "started" in g:
            # What the page cost on this side (AWS calls included), for a browser's network panel and the tests.
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        return response

    app.jinja_env.filters.update(size=human_size, grouped=grouped, when=when)
    app.jinja_env.globals.update(encoded=encoded)  # imported macros see globals, not the context

    @app.context_processor
    def page_context() -> dict[str, Any]:
        return {"bucket": service.bucket, "memory": service.rejected_images() is not None}

    @app.get("/")
    def overview() -> Any:
        return render_template("overview.html", active="overview", overview=service.overview())

    @app.route("/check", methods=["GET", "POST"])
    def check() -> Any:
        current = service.settings()
        context: dict[str, Any] = {
            "active": "check",
            "thresholds": current.thresholds,
            "unsafe_label": UNSAFE_LABEL[current.categorizer],
            "review_label": REVIEW_LABEL[current.categorizer],
            "max_bytes": current.max_image_bytes,
            "max_pixels": current.max_image_pixels,
        }
        if request.method != "POST":  # GET, and HEAD like GET
            return render_template("check.html", **context)
        source, data, problem = _submitted_image(service, current.max_image_bytes)
        if problem:
            return render_template("check.html", problem=problem, **context), 400
        assessment, preview = service.check(data)
        verdict = assessment.verdict
        context.update(
            source=source,
            verdict=verdict,
            score_list=score_views(
                verdict.scores,
                categorizer=verdict.categorizer,
                status=str(verdict.status),
                reason=verdict.reason,
                thresholds=current.thresholds,
            ),
            detail=assessment.detail,
            preview=_data_uri(preview.data, preview.content_type) if preview else None,
        )
        return render_template("check.html", **context)

    @app.get("/review")
    def review_list() -> Any:
        page = service.needs_review(ListQuery.from_args(request.args))
        return render_template("items.html", active="review", page=page, back="review_list", statuses=())

    @app.get("/quarantine")
    def quarantine_list() -> Any:
        statuses = service.quarantine_statuses()
        page = service.quarantine(ListQuery.from_args(request.args, statuses))
        return render_template("items.html", active="quarantine", page=page, back="quarantine_list", statuses=statuses)

    @app.get("/thumbnail")
    def thumbnail() -> Any:
        target = forms.target(request.args)
        pinned = bool(target.etag or (target.version_id and target.version_id != "null"))
        tag = _thumbnail_etag(target)
        if pinned and tag in request.if_none_match:
            # The browser has this very thumbnail: a pinned version's bytes never change.
            return _cacheable(Response(status=304), tag)
        try:
            image = service.thumbnail(target.bucket, target.key, target.version_id, target.etag)
        except UnsupportedImageError:
            return Response("no preview", status=415, mimetype="text/plain")
        except ObjectGoneError:
            return Response("gone", status=404, mimetype="text/plain")
        except ObjectChangedError:
            return Response("changed since the page was made", status=409, mimetype="text/plain")
        response = Response(image.data, mimetype=image.content_type)
        if pinned:
            return _cacheable(response, tag)
        response.headers["Cache-Control"] = "private, max-age=60"
        return response

    @app.get("/rejected-preview")
    def rejected_preview() -> Any:
        sha256 = request.args.get("sha256", "").strip().lower()
        if not forms.SHA256.fullmatch(sha256):
            abort(400, description="sha256 must be 64 hexadecimal characters")
        try:
            image = service.rejected_preview(sha256)
        except UnsupportedImageError:
            image = None
        if image is None:
            return Response("no preview", status=404, mimetype="text/plain")
        response = Response(image.data, mimetype=image.content_type)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    @app.post("/approve")
    def approve() -> Any:
        decision = service.approve(forms.target(request.form))
        flash(_approved(decision), "success")
        return redirect(forms.back_url(request.form), code=303)

    @app.route("/reject", methods=["GET", "POST"])
    def reject() -> Any:
        source = request.form if request.method == "POST" else request.args
        target = forms.target(source)
        if request.method != "POST":  # GET, and HEAD like GET
            item = service.describe(target)
            back = forms.back_list(source.get("back"))
            return render_template(
                "reject.html", active=None, item=item, back=back, back_args=forms.back_args(source.get("back_args"))
            )
        decision = service.reject(target)
        flash(f"{REJECTED}: s3://{decision.bucket}/{decision.key} was deleted (the version you saw).", "success")
        return redirect(forms.back_url(source), code=303)

    @app.post("/bulk")
    def bulk() -> Any:
        decision = {"approve": str(Status.APPROVED), "reject": REJECTED}.get(request.form.get("decision", ""))
        if decision is None:
            abort(400, description="approve or reject?")
        selected = request.form.getlist("selected")
        if len(selected) > MAX_BULK:
            abort(400, description=f"at most {MAX_BULK} objects at once")
        if not selected:
            flash("Nothing selected: tick the objects to decide on first.", "error")
            return redirect(forms.back_url(request.form), code=303)
        targets = [forms.selection(value) for value in dict.fromkeys(selected)]
        back = forms.back_list(request.form.get("back"))
        back_args = forms.back_args(request.form.get("back_args"))
        if request.form.get("confirmed") != "yes":
            items = service.describe_all(targets)
            return render_template(
                "bulk.html", active=None, decision=decision, items=items, back=back, back_args=back_args
            )
        outcomes = service.decide_many(decision, targets)
        lines = [_outcome_line(outcome) for outcome in outcomes]
        return render_template(
            "bulk_done.html", active=None, decision=decision, lines=lines, back=back, back_args=back_args
        )

    @app.post("/dismiss")
    def dismiss() -> Any:
        target = forms.target(request.form)
        scan_bucket = request.form.get("scan_bucket", "")
        scan_key = request.form.get("scan_key", "")
        scanned_at = request.form.get("scanned_at", "")
        if not (scan_bucket and scan_key and scanned_at):
            abort(400, description="which scan? (scan_bucket, scan_key and scanned_at are required)")
        service.dismiss(target, scan_bucket=scan_bucket, scan_key=scan_key, scanned_at=scanned_at)
        flash(
            f"Dismissed: the scan of s3://{scan_bucket}/{scan_key} no longer waits for review "
            f"(the ledger keeps it, marked {DISMISSED}; nothing was deleted).",
            "success",
        )
        return redirect(forms.back_url(request.form), code=303)

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> Any:
        message = "The form was refused: its security token is missing or expired. Reload the page and try again."
        return _error_page("Form refused", message, 400)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        limit = service.settings().max_image_bytes
        return _error_page("Too large", f"The upload is over the limit of {human_size(limit)}.", 413)

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
    if isinstance(exc, StillThereError):
        return "Still there", str(exc), 409
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


def _approved(decision: Decision) -> str:
    where = f"s3://{decision.bucket}/{decision.key}"
    if decision.moved_to:
        return f"Approved: {where} is back at {decision.moved_to} as {Status.APPROVED}."
    return f"Approved in place: {where} stays where it is, tagged {Status.APPROVED} (nothing moved)."


def _outcome_line(outcome: Outcome) -> dict[str, Any]:
    """One line of a bulk decision's result: the object, and what happened to it or why nothing did."""
    target = outcome.target
    line: dict[str, Any] = {"where": f"s3://{target.bucket}/{target.key}", "ok": outcome.error is None}
    if outcome.error is not None:
        title, message, _ = explain(outcome.error)
        line["text"] = f"{title}: {message}"
    elif outcome.decision is not None and outcome.decision.decision == REJECTED:
        line["text"] = f"{REJECTED}: deleted (the version you saw)"
    elif outcome.decision is not None and outcome.decision.moved_to:
        line["text"] = f"{Status.APPROVED}: back at {outcome.decision.moved_to}"
    else:
        line["text"] = f"{Status.APPROVED} in place: nothing moved"
    return line


def _thumbnail_etag(target: Target) -> str:
    """A validator naming exactly the pinned bytes a thumbnail was made from."""
    named = "\0".join((target.bucket, target.key, target.version_id or "", target.etag or ""))
    return hashlib.sha256(named.encode()).hexdigest()[:32]


def _cacheable(response: Response, tag: str) -> Response:
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


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
