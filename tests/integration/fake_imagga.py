"""A local Imagga v2 server for integration tests: a real socket on 127.0.0.1, the real wire contract.

It answers like Imagga (Basic auth, JSON `status` objects, `result.categories` with
`{"confidence": .., "name": {"en": ..}}`, the upload / categorize / delete flow) and records
every request it received. The answer for an image is chosen by the image's colour, because the
function re-encodes what it sends: the bytes differ from the upload, the colour does not.
Scripted replies (`reply_next`) are served first, in order, for tests of retries and failures.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.builders import imagga_error, imagga_success

API_KEY = "test-key"
API_SECRET = "test-secret"

Colour = tuple[int, int, int]
GREEN: Colour = (30, 170, 60)
RED: Colour = (220, 20, 20)
BLUE: Colour = (20, 40, 220)
GREY: Colour = (128, 128, 128)
SAFE_SCORES = {"safe": 99.2, "underwear": 0.5, "nsfw": 0.3}


@dataclass(frozen=True)
class Reply:
    """A scripted answer: HTTP status and JSON body (or raw text, like a proxy's HTML page)."""

    status: int
    body: dict[str, Any] | str

    @classmethod
    def error(cls, status: int, text: str = "Unexpected error while running the classification job.") -> Reply:
        return cls(status, imagga_error(text))


@dataclass(frozen=True)
class Call:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    files: dict[str, bytes]
    auth: tuple[str, str] | None
    status: int = 0


@dataclass
class FakeImagga:
    server: HTTPServer
    api_key: str = API_KEY
    api_secret: str = API_SECRET
    default_scores: dict[str, float] = field(default_factory=lambda: dict(SAFE_SCORES))
    calls: list[Call] = field(default_factory=list)
    _by_colour: list[tuple[Colour, dict[str, float] | Reply]] = field(default_factory=list)
    _scripted: dict[tuple[str, str], deque[Reply]] = field(default_factory=dict)
    _uploads: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(r"^/.*$")).respond_with_handler(self._handle)

    @property
    def endpoint(self) -> str:
        return self.server.url_for("/v2").rstrip("/")

    # --- what the test arranges -------------------------------------------------------------

    def answer(self, scores: dict[str, float]) -> None:
        """Scores for every image no colour rule matches."""
        self.default_scores = dict(scores)

    def answer_for_colour(self, colour: Colour, answer: dict[str, float] | Reply) -> None:
        """Scores (or an error reply, every time) for images of this colour."""
        self._by_colour.append((colour, answer))

    def reply_next(self, method: str, path_prefix: str, *replies: Reply) -> None:
        """Serve these replies, in order, to the next requests of `method` on a path starting with `path_prefix`."""
        self._scripted.setdefault((method, path_prefix), deque()).extend(replies)

    # --- what the test inspects -------------------------------------------------------------

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Call]:
        return [c for c in self.calls if (method is None or c.method == method) and c.path.startswith(path_prefix)]

    # --- the server side --------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        files = {name: storage.read() for name, storage in request.files.items()}
        auth = _basic_auth(request.headers.get("Authorization", ""))
        with self._lock:
            reply = self._reply(request, files, auth)
            self.calls.append(Call(request.method, request.path, dict(request.args), files, auth, status=reply.status))
        body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        content_type = "text/html" if isinstance(reply.body, str) else "application/json"
        headers = {"Monthly-Limit": "1000", "Monthly-Limit-Remaining": "990", "Monthly-Limit-Reset": "1767225600"}
        return Response(body, status=reply.status, content_type=content_type, headers=headers)

    def _reply(self, request: Request, files: dict[str, bytes], auth: tuple[str, str] | None) -> Reply:
        for (method, prefix), queue in self._scripted.items():
            if request.method == method and request.path.startswith(prefix) and queue:
                return queue.popleft()
        if auth != (self.api_key, self.api_secret):
            return Reply.error(401, "You are not authorized to access this resource.")
        path = request.path
        if request.method == "POST" and path == "/v2/uploads":
            if "image" not in files:
                return Reply.error(400, "No image given.")
            upload_id = f"i{len(self._uploads) + 1:05d}e1"
            self._uploads[upload_id] = files["image"]
            return Reply(200, {"result": {"upload_id": upload_id}, "status": {"text": "", "type": "success"}})
        if request.method == "DELETE" and path.startswith("/v2/uploads/"):
            if self._uploads.pop(path.rsplit("/", 1)[1], None) is None:
                return Reply.error(404, "Upload not found.")
            return Reply(200, {"status": {"text": "", "type": "success"}})
        if path.startswith("/v2/categories/"):
            if request.method == "GET":
                image = self._uploads.get(request.args.get("image_upload_id", ""))
                if image is None:
                    return Reply.error(410, "The upload id has expired.")
            elif request.method == "POST" and "image" in files:
                image = files["image"]
            else:
                return Reply.error(400, "Please provide content for processing.")
            return self._categorize(image)
        return Reply.error(404, "Not found.")

    def _categorize(self, image: bytes) -> Reply:
        try:
            colour = _colour_of(image)
        except OSError:
            return Reply.error(400, "Unexpected error while running the classification job.")
        for wanted, answer in self._by_colour:
            if _close(colour, wanted):
                return answer if isinstance(answer, Reply) else Reply(200, imagga_success(answer))
        return Reply(200, imagga_success(self.default_scores))


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    return user, password


def _colour_of(image: bytes) -> Colour:
    with Image.open(io.BytesIO(image)) as opened:
        rgb = opened.convert("RGB")
        pixel = rgb.getpixel((rgb.width // 2, rgb.height // 2))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def _close(a: Colour, b: Colour, tolerance: int = 24) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
