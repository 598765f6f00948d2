"""The Imagga v2 categories API over HTTP: the only module that talks to Imagga.

Wire contract: Basic auth (key, secret); JSON bodies with `status.type`; `result.categories`
as `{"confidence": 0..100, "name": {"en": label}}`. Retries with exponential backoff and full
jitter on 429, 5xx, a 403 that mentions a limit, timeouts and connection errors, never past
the caller's deadline. 400 is the image's fault; 401 and other 403s are the credentials'.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .errors import (
    ImaggaCredentialsError,
    ImaggaProtocolError,
    ImaggaRejectedError,
    ImaggaUnavailableError,
    TransientError,
)
from .model import Categorization
from .observability import logger

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
PROTOCOL_STATUS = frozenset({404, 405, 406, 410})
LIMIT_WORDS = ("limit", "concurren")
#: Seconds kept in hand after the last Imagga attempt, for tagging and logging.
DEADLINE_MARGIN = 3.0

Deadline = Callable[[], float]
"""Seconds left before the caller must be done."""


@dataclass(frozen=True)
class ImaggaCredentials:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "ImaggaCredentials(api_key=***, api_secret=***)"


@dataclass
class _CallStats:
    attempts: int = 0
    retries: int = 0
    monthly_limit_remaining: int | None = None
    monthly_limit_reset: int | None = None


class _Retryable(TransientError):
    """One attempt failed in a retryable way; `retry_after` is the server's hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImaggaClient:
    """Categorizes image bytes. Takes its `requests.Session`; reuse one per container."""

    def __init__(
        self,
        session: requests.Session,
        *,
        endpoint: str,
        credentials: Callable[[], ImaggaCredentials],
        categorizer: str = "nsfw_beta",
        upload_mode: str = "direct",
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        on_credentials_rejected: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._session = session
        self._endpoint = endpoint.rstrip("/")
        self._credentials = credentials
        self.categorizer = categorizer
        self.upload_mode = upload_mode
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_credentials_rejected = on_credentials_rejected
        self._sleep = sleep
        self._jitter = jitter

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Deadline | None = None
    ) -> Categorization:
        stats = _CallStats()
        started = time.perf_counter()
        path = f"/categories/{self.categorizer}"
        if self.upload_mode == "upload":
            upload_id = self._upload(image, content_type, deadline, stats)
            try:
                body = self._call("GET", path, stats, deadline, parse_scores, params={"image_upload_id": upload_id})
            finally:
                # Always, also after a failure: no image may stay on Imagga's servers.
                self._delete_upload(upload_id, deadline, stats)
        else:
            files = {"image": ("image", image, content_type)}
            body = self._call("POST", path, stats, deadline, parse_scores, files=files)
        return Categorization(
            categorizer=self.categorizer,
            scores=parse_scores(body),
            raw=body,
            attempts=stats.attempts,
            retries=stats.retries,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            monthly_limit_remaining=stats.monthly_limit_remaining,
            monthly_limit_reset=stats.monthly_limit_reset,
        )

    def _upload(self, image: bytes, content_type: str, deadline: Deadline | None, stats: _CallStats) -> str:
        files = {"image": ("image", image, content_type)}
        body = self._call("POST", "/uploads", stats, deadline, parse_upload_id, files=files)
        return parse_upload_id(body)

    def _delete_upload(self, upload_id: str, deadline: Deadline | None, stats: _CallStats) -> None:
        try:
            self._call("DELETE", f"/uploads/{upload_id}", stats, deadline, lambda body: None)
        except (TransientError, ImaggaProtocolError, ImaggaCredentialsError, ImaggaRejectedError) as exc:
            # The upload expires on Imagga's side after 24 hours; the verdict is not at stake.
            logger.warning("imagga upload not deleted", extra={"upload_id": upload_id, "error": str(exc)})

    def _call(
        self,
        method: str,
        path: str,
        stats: _CallStats,
        deadline: Deadline | None,
        check: Callable[[dict[str, Any]], object],
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One logical request with retries; `check` raises ValueError on a malformed success body."""
        attempt = 0
        while True:
            attempt += 1
            remaining = _remaining(deadline)
            if remaining <= self._connect_timeout:
                raise ImaggaUnavailableError(f"no time left for Imagga {method} {path} (attempt {attempt})")
            read_timeout = min(self._read_timeout, remaining - self._connect_timeout)
            stats.attempts += 1
            try:
                body = self._once(method, path, (self._connect_timeout, read_timeout), stats, **kwargs)
                try:
                    check(body)
                except ValueError as exc:
                    raise _Retryable(f"malformed answer: {exc}") from exc
                return body
            except _Retryable as exc:
                delay = self._backoff(attempt, exc.retry_after)
                if attempt >= self._max_attempts or delay >= _remaining(deadline) - self._connect_timeout:
                    raise ImaggaUnavailableError(
                        f"Imagga {method} {path} failed after {attempt} attempts: {exc}"
                    ) from exc
                logger.info(
                    "imagga retry",
                    extra={"path": path, "attempt": attempt, "delay_s": round(delay, 3), "error": str(exc)},
                )
                stats.retries += 1
                self._sleep(delay)

    def _once(
        self, method: str, path: str, timeout: tuple[float, float], stats: _CallStats, **kwargs: Any
    ) -> dict[str, Any]:
        creds = self._credentials()
        try:
            response = self._session.request(
                method, self._endpoint + path, auth=(creds.api_key, creds.api_secret), timeout=timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from exc
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from exc
        remaining_header = response.headers.get("Monthly-Limit-Remaining")
        if remaining_header and remaining_header.strip().isdigit():
            stats.monthly_limit_remaining = int(remaining_header)
        # Unix seconds when the monthly quota starts again (a paused backfill resumes then).
        reset_header = response.headers.get("Monthly-Limit-Reset")
        if reset_header and reset_header.strip().isdigit():
            stats.monthly_limit_reset = int(reset_header)
        body = _json(response)
        text = _status_text(body)
        code = response.status_code
        if code == 200 and body is not None and _status_type(body) != "error":
            return body
        if code == 200:
            raise _Retryable("HTTP 200 with a malformed or error body")
        if code in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {code} {text}".strip(), _retry_after(response))
        if code == 403 and any(word in text.lower() for word in LIMIT_WORDS):
            raise _Retryable(f"HTTP 403 usage limit: {text}", _retry_after(response))
        if code in (401, 403):
            if self._on_credentials_rejected:
                self._on_credentials_rejected()
            raise ImaggaCredentialsError(
                f"Imagga refused the API credentials (HTTP {code}: {text or 'no message'}); "
                "check the api_key/api_secret in the configured secret and the plan's features"
            )
        if code == 400:
            raise ImaggaRejectedError(f"Imagga rejected the image (HTTP 400: {text or 'no message'})")
        if code in PROTOCOL_STATUS:
            raise ImaggaProtocolError(
                f"Imagga answered HTTP {code} for {method} {path}: check IMAGGA_API_ENDPOINT ({text})"
            )
        raise ImaggaProtocolError(f"Imagga answered an unexpected HTTP {code} for {method} {path}")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        delay = ceiling * self._jitter()  # full jitter: spread retries of concurrent callers apart
        return max(delay, retry_after) if retry_after is not None else delay


def parse_scores(body: dict[str, Any]) -> dict[str, float]:
    """Scores by lower-case label name. Unknown labels are kept; entries that are not scores are not."""
    result = body.get("result")
    categories = result.get("categories") if isinstance(result, dict) else None
    if not isinstance(categories, list):
        raise ValueError("no result.categories")
    scores: dict[str, float] = {}
    for entry in categories:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        label = name.get("en") if isinstance(name, dict) else name
        confidence = entry.get("confidence")
        if isinstance(label, str) and label.strip() and isinstance(confidence, int | float):
            scores[label.strip().lower()] = max(0.0, min(100.0, float(confidence)))
    return scores


def parse_upload_id(body: dict[str, Any]) -> str:
    result = body.get("result")
    upload_id = result.get("upload_id") if isinstance(result, dict) else None
    if not isinstance(upload_id, str) or not upload_id:
        raise ValueError("no result.upload_id")
    return upload_id


def _remaining(deadline: Deadline | None) -> float:
    return float("inf") if deadline is None else float(deadline()) - DEADLINE_MARGIN


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _status_type(body: dict[str, Any]) -> str | None:
    status = body.get("status")
    return status.get("type") if isinstance(status, dict) else None


def _status_text(body: dict[str, Any] | None) -> str:
    status = body.get("status") if body else None
    text = status.get("text") if isinstance(status, dict) else None
    return str(text)[:200] if text else ""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
