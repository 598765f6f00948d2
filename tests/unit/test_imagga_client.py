"""The Imagga client against a scripted, in-memory session: no sockets, no real sleeping."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from moderator.errors import (
    ImaggaCredentialsError,
    ImaggaProtocolError,
    ImaggaRejectedError,
    ImaggaUnavailableError,
)
from moderator.imagga import ImaggaClient, ImaggaCredentials
from tests.builders import imagga_error, imagga_success, imagga_upload

ENDPOINT = "https://api.imagga.test/v2"
KEY = "test-key-7f3a"
SECRET = "test-secret-2b9c"
IMAGE = b"\xff\xd8\xff\xe0 a tiny jpeg"
SAFE_SCORES = {"safe": 99.15, "underwear": 0.55, "nsfw": 0.3}
UPLOAD_ID = "i05e132196706b94b1d85efb5f3SaM1j"


def reply(status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> requests.Response:
    """A real `requests.Response`, built in memory."""
    response = requests.Response()
    response.status_code = status
    response._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    response.headers = CaseInsensitiveDict(
        {"Content-Type": "application/json" if isinstance(body, dict) else "text/html", **(headers or {})}
    )
    return response


@dataclass
class Sent:
    method: str
    url: str
    kwargs: dict[str, Any]


@dataclass
class FakeSession:
    """Answers requests with the scripted replies, in order; an exception in the script is raised."""

    replies: list[requests.Response | Exception]
    sent: list[Sent] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.sent.append(Sent(method, url, kwargs))
        if not self.replies:
            raise AssertionError(f"unexpected request {method} {url}")
        answer = self.replies.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Recorder:
    sleeps: list[float] = field(default_factory=list)
    rejected: int = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_rejected(self) -> None:
        self.rejected += 1


def client(
    session: FakeSession,
    recorder: Recorder | None = None,
    *,
    jitter: Callable[[], float] = lambda: 1.0,
    **options: Any,
) -> ImaggaClient:
    recorder = recorder or Recorder()
    return ImaggaClient(
        session,  # type: ignore[arg-type]
        endpoint=ENDPOINT + "/",
        credentials=lambda: ImaggaCredentials(KEY, SECRET),
        sleep=recorder.sleep,
        jitter=jitter,
        on_credentials_rejected=recorder.on_rejected,
        **options,
    )


def multipart_image(sent: Sent) -> bytes:
    _filename, data, content_type = sent.kwargs["files"]["image"]
    assert content_type == "image/jpeg"
    return bytes(data)


# ---- the two request forms --------------------------------------------------------------------


def test_direct_mode_is_one_post_with_the_image_as_multipart_field_image() -> None:
    # GIVEN Imagga answers with scores
    session = FakeSession([reply(200, imagga_success(SAFE_SCORES))])
    # WHEN an image is categorized in direct mode
    result = client(session).categorize(IMAGE, "image/jpeg")
    # THEN exactly one authenticated POST carried the image, and the scores come back
    assert [(s.method, s.url) for s in session.sent] == [("POST", f"{ENDPOINT}/categories/nsfw_beta")]
    assert multipart_image(session.sent[0]) == IMAGE
    assert session.sent[0].kwargs["auth"] == (KEY, SECRET)
    assert result.scores == SAFE_SCORES
    assert (result.categorizer, result.attempts, result.retries) == ("nsfw_beta", 1, 0)
    assert result.raw == imagga_success(SAFE_SCORES)


def test_every_request_has_a_connect_and_read_timeout() -> None:
    session = FakeSession([reply(200, imagga_success(SAFE_SCORES))])
    client(session, connect_timeout=2.0, read_timeout=15.0).categorize(IMAGE)
    assert session.sent[0].kwargs["timeout"] == (2.0, 15.0)


def test_the_configured_categorizer_is_called() -> None:
    session = FakeSession([reply(200, imagga_success({"explicit": 1.0, "suggestive": 2.0, "safe": 97.0}))])
    result = client(session, categorizer="adult_content").categorize(IMAGE)
    assert session.sent[0].url == f"{ENDPOINT}/categories/adult_content"
    assert result.categorizer == "adult_content"


def test_upload_mode_uploads_categorizes_by_id_and_deletes_the_upload() -> None:
    # GIVEN upload mode and Imagga answering each of the three steps
    session = FakeSession(
        [
            reply(200, imagga_upload(UPLOAD_ID)),
            reply(200, imagga_success(SAFE_SCORES)),
            reply(200, {"status": {"text": "", "type": "success"}}),
        ]
    )
    # WHEN an image is categorized
    result = client(session, upload_mode="upload").categorize(IMAGE)
    # THEN: POST /uploads with the image, GET by image_upload_id, DELETE the upload
    assert [(s.method, s.url) for s in session.sent] == [
        ("POST", f"{ENDPOINT}/uploads"),
        ("GET", f"{ENDPOINT}/categories/nsfw_beta"),
        ("DELETE", f"{ENDPOINT}/uploads/{UPLOAD_ID}"),
    ]
    assert multipart_image(session.sent[0]) == IMAGE
    assert session.sent[1].kwargs["params"] == {"image_upload_id": UPLOAD_ID}
    assert result.scores == SAFE_SCORES


def test_upload_is_deleted_also_when_the_categorization_was_rejected() -> None:
    session = FakeSession(
        [
            reply(200, imagga_upload(UPLOAD_ID)),
            reply(400, imagga_error("Unexpected error while running the classification job.")),
            reply(200, {"status": {"text": "", "type": "success"}}),
        ]
    )
    with pytest.raises(ImaggaRejectedError):
        client(session, upload_mode="upload").categorize(IMAGE)
    assert [s.method for s in session.sent] == ["POST", "GET", "DELETE"]
    assert session.sent[-1].url == f"{ENDPOINT}/uploads/{UPLOAD_ID}"


def test_upload_is_deleted_also_when_the_categorization_kept_failing() -> None:
    session = FakeSession(
        [
            reply(200, imagga_upload(UPLOAD_ID)),
            reply(503, imagga_error("busy")),
            reply(503, imagga_error("busy")),
            reply(200, {"status": {"text": "", "type": "success"}}),
        ]
    )
    with pytest.raises(ImaggaUnavailableError):
        client(session, upload_mode="upload", max_attempts=2).categorize(IMAGE)
    assert [s.method for s in session.sent] == ["POST", "GET", "GET", "DELETE"]


def test_a_failed_delete_does_not_spoil_the_verdict() -> None:
    session = FakeSession(
        [
            reply(200, imagga_upload(UPLOAD_ID)),
            reply(200, imagga_success(SAFE_SCORES)),
            reply(404, imagga_error("Upload not found.")),
        ]
    )
    result = client(session, upload_mode="upload").categorize(IMAGE)
    assert result.scores == SAFE_SCORES
    assert [s.method for s in session.sent] == ["POST", "GET", "DELETE"]


# ---- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        reply(429, imagga_error("You have reached your concurrency limit.")),
        reply(500, imagga_error("Internal server error.")),
        reply(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        reply(503, imagga_error("Service unavailable.")),
        reply(504, "<html><body><h1>504 Gateway Time-out</h1></body></html>"),
        reply(403, imagga_error("Monthly limit reached for this account.")),
        reply(403, imagga_error("Too many concurrent requests.")),
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("connection reset by peer"),
        reply(200, "<html>not json</html>"),
        reply(200, {"result": {}, "status": {"text": "", "type": "success"}}),
        reply(200, imagga_error("success code, error body")),
    ],
    ids=[
        "429",
        "500",
        "502-html",
        "503",
        "504-html",
        "403-monthly-limit",
        "403-concurrency",
        "connect-timeout",
        "read-timeout",
        "connection-error",
        "200-html",
        "200-no-categories",
        "200-error-status",
    ],
)
def test_retryable_failure_is_retried_then_succeeds(failure: requests.Response | Exception) -> None:
    # GIVEN one retryable failure, then an answer
    session = FakeSession([failure, reply(200, imagga_success(SAFE_SCORES))])
    recorder = Recorder()
    # WHEN an image is categorized
    result = client(session, recorder).categorize(IMAGE)
    # THEN the second attempt's scores come back, after one backoff
    assert result.scores == SAFE_SCORES
    assert (result.attempts, result.retries) == (2, 1)
    assert len(session.sent) == 2
    assert recorder.sleeps == [0.5]


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap() -> None:
    # GIVEN five failures and a jitter that always picks the ceiling
    session = FakeSession([reply(503, imagga_error("busy"))] * 5 + [reply(200, imagga_success(SAFE_SCORES))])
    recorder = Recorder()
    # WHEN categorized with six attempts and a cap of 3 s
    client(session, recorder, max_attempts=6, backoff_cap=3.0).categorize(IMAGE)
    # THEN the delays double from 0.5 s and stop at the cap
    assert recorder.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_scales_the_delay() -> None:
    session = FakeSession([reply(503, imagga_error("busy")), reply(200, imagga_success(SAFE_SCORES))])
    recorder = Recorder()
    client(session, recorder, jitter=lambda: 0.25, backoff_base=2.0).categorize(IMAGE)
    assert recorder.sleeps == [0.5]


def test_retries_exhausted_raise_imagga_unavailable() -> None:
    # GIVEN Imagga keeps answering 503
    session = FakeSession([reply(503, imagga_error("busy"))] * 3)
    recorder = Recorder()
    # WHEN categorized with three attempts
    with pytest.raises(ImaggaUnavailableError, match="after 3 attempts"):
        client(session, recorder, max_attempts=3).categorize(IMAGE)
    # THEN three requests were made and two waits between them
    assert len(session.sent) == 3
    assert len(recorder.sleeps) == 2


def test_retry_after_header_is_honoured() -> None:
    # GIVEN a 429 with Retry-After: 7 and a jitter that would not wait at all
    session = FakeSession(
        [reply(429, imagga_error("Too many requests."), {"Retry-After": "7"}), reply(200, imagga_success(SAFE_SCORES))]
    )
    recorder = Recorder()
    # WHEN categorized
    client(session, recorder, jitter=lambda: 0.0).categorize(IMAGE)
    # THEN the client waited what the server asked
    assert recorder.sleeps == [7.0]


def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    session = FakeSession(
        [
            reply(503, imagga_error("busy"), {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            reply(200, imagga_success(SAFE_SCORES)),
        ]
    )
    recorder = Recorder()
    client(session, recorder).categorize(IMAGE)
    assert recorder.sleeps == [0.5]


# ---- deadline ---------------------------------------------------------------------------------


def test_no_request_when_the_deadline_leaves_no_time() -> None:
    # GIVEN 5 s left: less than the 3 s margin plus a connect timeout
    session = FakeSession([])
    # WHEN / THEN the client gives up without calling
    with pytest.raises(ImaggaUnavailableError, match="no time left"):
        client(session).categorize(IMAGE, deadline=lambda: 5.0)
    assert session.sent == []


def test_read_timeout_is_cut_to_the_time_left() -> None:
    session = FakeSession([reply(200, imagga_success(SAFE_SCORES))])
    client(session, connect_timeout=1.0, read_timeout=20.0).categorize(IMAGE, deadline=lambda: 10.0)
    # 10 s left, 3 s kept in hand, 1 s to connect: 6 s to read
    assert session.sent[0].kwargs["timeout"] == (1.0, 6.0)


def test_no_retry_past_the_deadline() -> None:
    # GIVEN little time left and a server asking to wait longer than that
    session = FakeSession(
        [reply(429, imagga_error("Too many requests."), {"Retry-After": "30"}), reply(200, imagga_success(SAFE_SCORES))]
    )
    recorder = Recorder()
    # WHEN categorized with 12 s left
    with pytest.raises(ImaggaUnavailableError):
        client(session, recorder).categorize(IMAGE, deadline=lambda: 12.0)
    # THEN one request, and no sleep that would outlive the invocation
    assert len(session.sent) == 1
    assert recorder.sleeps == []


def test_deadline_is_checked_again_before_each_retry() -> None:
    # GIVEN a clock that runs out after the first attempt
    left = iter([60.0, 60.0, 4.0])
    session = FakeSession([reply(503, imagga_error("busy")), reply(200, imagga_success(SAFE_SCORES))])
    # WHEN / THEN the retry is not sent
    with pytest.raises(ImaggaUnavailableError, match="no time left"):
        client(session).categorize(IMAGE, deadline=lambda: next(left))
    assert len(session.sent) == 1


# ---- failures that are not retried ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        reply(401, imagga_error("Invalid authentication credentials.")),
        reply(403, imagga_error("You are not authorized to use this endpoint.")),
        reply(403, "Forbidden"),
    ],
    ids=["401", "403-plain", "403-no-json"],
)
def test_refused_credentials_fail_at_once_without_revealing_them(failure: requests.Response) -> None:
    # GIVEN Imagga refuses the credentials
    session = FakeSession([failure, reply(200, imagga_success(SAFE_SCORES))])
    recorder = Recorder()
    # WHEN categorized
    with pytest.raises(ImaggaCredentialsError) as caught:
        client(session, recorder).categorize(IMAGE)
    # THEN after one request, the cached credentials are dropped and the message holds no secret
    assert len(session.sent) == 1
    assert recorder.rejected == 1
    assert recorder.sleeps == []
    assert KEY not in str(caught.value)
    assert SECRET not in str(caught.value)
    assert f"HTTP {failure.status_code}" in str(caught.value)


def test_bad_request_is_rejected_at_once() -> None:
    session = FakeSession([reply(400, imagga_error("Unexpected error while running the classification job."))])
    with pytest.raises(ImaggaRejectedError, match="classification job"):
        client(session).categorize(IMAGE)
    assert len(session.sent) == 1


@pytest.mark.parametrize("status", [404, 405, 406, 410, 418])
def test_protocol_errors_fail_at_once(status: int) -> None:
    session = FakeSession([reply(status, imagga_error("nope"))])
    with pytest.raises(ImaggaProtocolError):
        client(session).categorize(IMAGE)
    assert len(session.sent) == 1


# ---- what the answer tells ---------------------------------------------------------------------


def test_monthly_limit_remaining_is_captured() -> None:
    session = FakeSession(
        [
            reply(
                200,
                imagga_success(SAFE_SCORES),
                {"Monthly-Limit": "1000", "Monthly-Limit-Remaining": "873", "Monthly-Limit-Reset": "1717200000"},
            )
        ]
    )
    result = client(session).categorize(IMAGE)
    assert result.monthly_limit_remaining == 873


def test_monthly_limit_remaining_is_none_when_absent() -> None:
    result = client(FakeSession([reply(200, imagga_success(SAFE_SCORES))])).categorize(IMAGE)
    assert result.monthly_limit_remaining is None


def test_labels_are_lower_cased_and_read_by_name_not_position() -> None:
    # GIVEN categories in an unusual order, with capitals, an unknown label and junk entries
    body = {
        "result": {
            "categories": [
                {"confidence": 0.4, "name": {"en": "Safe"}},
                {"confidence": 97.25, "name": {"en": " NSFW "}},
                {"confidence": 2.0, "name": {"en": "underwear"}},
                {"confidence": 12.5, "name": {"en": "Violence"}},
                {"confidence": "high", "name": {"en": "bogus"}},
                {"name": {"en": "no-confidence"}},
                "not an entry",
            ]
        },
        "status": {"text": "", "type": "success"},
    }
    # WHEN categorized
    result = client(FakeSession([reply(200, body)])).categorize(IMAGE)
    # THEN each score is under its lower-case name; unknown labels are kept, junk is not
    assert result.scores == {"safe": 0.4, "nsfw": 97.25, "underwear": 2.0, "violence": 12.5}


def test_confidences_are_clamped_to_percentages() -> None:
    body = imagga_success({"nsfw": 100.0001, "safe": -0.5})
    result = client(FakeSession([reply(200, body)])).categorize(IMAGE)
    assert result.scores == {"nsfw": 100.0, "safe": 0.0}
