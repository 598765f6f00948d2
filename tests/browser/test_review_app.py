"""The review page's answers that need no browser: refused requests, expected errors, the command.

Flask's test client against the moto server, the same app and service as in the browser tests.
"""

from __future__ import annotations

import io
import re
import socket
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from moderator.cli.main import cli as moderator_cli
from moderator.cli.review_cmd import review_service, stack_queues
from moderator.cli.runtime import Runtime
from moderator.web.app import BeyondLoopbackError, create_app
from moderator.web.service import ReviewService
from tests.builders import jpeg_bytes
from tests.integration.fake_imagga import BLUE, RED
from tests.integration.network import PUBLIC, FakeNetwork, SlowDrip

from .conftest import MOTO_CALLER, REGION, Stack

pytestmark = pytest.mark.integration

UNSAFE = {"nsfw": 91.4, "underwear": 6.1, "safe": 2.5}
#: Every interface: these tests build the app for it (or ask the command to), they never listen there.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104


def _app(stack: Stack, bucket: str | None = None, **env: str) -> Flask:
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env={**stack.env, **env})
    app = create_app(review_service(runtime, bucket or stack.bucket))
    app.config["TESTING"] = True
    return app


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def quarantined(stack: Stack) -> str:
    stack.imagga.answer_for_colour(RED, UNSAFE)
    stack.upload_and_moderate("uploads/party.jpg", jpeg_bytes(color=RED))
    return "quarantine/uploads/party.jpg"


@pytest.fixture
def client(stack: Stack) -> FlaskClient:
    return _app(stack).test_client()


def test_a_form_post_without_its_csrf_token_is_refused(stack: Stack, quarantined: str, client: FlaskClient) -> None:
    # GIVEN a moderator session on the page
    client.get("/quarantine")

    # WHEN an Approve is posted from the same origin but without the form's token
    response = client.post(
        "/approve", data={"bucket": stack.bucket, "key": quarantined}, headers={"Origin": "http://localhost"}
    )

    # THEN it is refused and nothing moved
    assert response.status_code == 400
    assert "Form refused" in _text(response)
    assert stack.keys() == [quarantined]


def test_a_request_for_another_host_name_is_refused(client: FlaskClient) -> None:
    # GIVEN the page bound to 127.0.0.1
    # WHEN a request names another host (a DNS-rebinding page resolving its own name to 127.0.0.1)
    response = client.get("/quarantine", headers={"Host": "attacker.example:8080"})

    # THEN it is refused
    assert response.status_code == 400
    assert "unknown host name" in response.get_data(as_text=True)


def test_pages_carry_no_aws_url_or_credential_and_thumbnails_come_through_the_app(
    stack: Stack, quarantined: str, client: FlaskClient
) -> None:
    # GIVEN a quarantined image
    # WHEN the quarantine page and its thumbnail are fetched
    page = client.get("/quarantine")
    html = page.get_data(as_text=True)
    (src,) = re.findall(r'<img src="([^"]+)"', html)
    thumbnail = client.get(src.replace("&amp;", "&"))

    # THEN the page names no S3 endpoint, signature or key, and scripts are limited to its own
    assert page.status_code == 200
    for secret_ish in ("X-Amz-", "Signature", "testing", stack.endpoint):
        assert secret_ish not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert src.startswith("/thumbnail?")
    # AND the thumbnail is a small JPEG made by the app
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/jpeg"
    assert thumbnail.data.startswith(b"\xff\xd8")


def test_a_missing_bucket_is_named_in_a_clear_message(stack: Stack) -> None:
    # GIVEN the page started for a bucket that does not exist
    client = _app(stack, bucket="no-such-bucket-anywhere").test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says which bucket is missing
    assert response.status_code == 404
    assert "Bucket missing" in _text(response)
    assert "no-such-bucket-anywhere does not exist" in _text(response)


def test_no_aws_credentials_give_a_clear_message(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an operator with no AWS credentials anywhere
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found first
    client = _app(stack).test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says what is missing and how to fix it
    assert response.status_code == 503
    assert "No AWS credentials" in _text(response)
    assert "AWS_PROFILE" in _text(response)


class DenyingS3:
    """An S3 client whose every listing is refused, as for an identity without s3:ListBucket."""

    def list_object_versions(self, **_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        raise ClientError(error, "ListObjectVersions")  # type: ignore[arg-type]


def test_access_denied_gives_a_clear_message(stack: Stack) -> None:
    # GIVEN an operator whose AWS identity may not list the bucket
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    service = review_service(runtime, stack.bucket)
    service.s3 = DenyingS3()
    client = create_app(service).test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says access was denied, to which bucket
    assert response.status_code == 403
    assert "Access denied" in _text(response)
    assert stack.bucket in _text(response)


def test_needs_review_without_a_decisions_table_says_what_to_set(stack: Stack) -> None:
    # GIVEN the page started without DECISIONS_TABLE
    client = _app(stack, DECISIONS_TABLE="").test_client()

    # WHEN Needs review is opened
    response = client.get("/review")

    # THEN the page says which setting is missing
    assert response.status_code == 503
    assert "set DECISIONS_TABLE" in _text(response)


def test_the_review_command_listens_on_127_0_0_1_by_default(stack: Stack) -> None:
    # GIVEN the command line, with the stack's endpoint and no --host
    command = [sys.executable, "-m", "moderator", "review", "--port", "0", "--endpoint-url", stack.endpoint]
    command += ["--bucket", stack.bucket]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(stack))
    try:
        # WHEN it starts
        assert process.stdout is not None
        line = process.stdout.readline()

        # THEN it says where it listens: 127.0.0.1, and the page answers there
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        answer = requests.get(f"http://127.0.0.1:{match.group(1)}/check", timeout=10)
        assert answer.status_code == 200
        assert "Check an image" in answer.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def _env(stack: Stack) -> dict[str, str]:
    import os

    return {**os.environ, **stack.env, "AWS_REGION": REGION}


def test_rejecting_a_review_object_left_in_place_deletes_it_and_records_the_reviewer(
    stack: Stack, client: FlaskClient
) -> None:
    # GIVEN an image the function marked REVIEW and left where it was
    stack.imagga.answer_for_colour(RED, {"nsfw": 3.0, "underwear": 70.0, "safe": 27.0})
    stack.upload_and_moderate("uploads/maybe.jpg", jpeg_bytes(color=RED))
    confirmation = client.get("/reject", query_string={"bucket": stack.bucket, "key": "uploads/maybe.jpg"})
    (token,) = re.findall(r'name="csrf_token" value="([^"]+)"', confirmation.get_data(as_text=True))

    # WHEN the moderator confirms the rejection
    response = client.post(
        "/reject",
        data={"csrf_token": token, "bucket": stack.bucket, "key": "uploads/maybe.jpg", "back": "review_list"},
        headers={"Origin": "http://localhost"},
    )

    # THEN it is deleted, and the ledger records REJECTED and who decided
    assert response.status_code == 303
    assert stack.keys() == []
    (decision,) = stack.decisions("uploads/maybe.jpg")
    assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("REJECTED", MOTO_CALLER)


# --- beyond 127.0.0.1: allowed host names, IPv6 loopback ---------------------------------------------


def test_bound_beyond_loopback_without_allowed_host_names_the_page_refuses_to_start(stack: Stack) -> None:
    # GIVEN the command asked to listen on every interface, without --allowed-host
    runner = CliRunner()

    # WHEN it starts / THEN it stops at once with one line saying what to add, before listening anywhere
    result = runner.invoke(
        moderator_cli,
        [
            "review",
            "--host",
            EVERY_INTERFACE,
            "--port",
            "0",
            "--endpoint-url",
            stack.endpoint,
            "--bucket",
            stack.bucket,
        ],
        env={**stack.env, "AWS_REGION": REGION},
    )
    assert result.exit_code == 2, result.output
    assert "--allowed-host" in result.stderr and "review page:" not in result.stdout
    # AND the app itself cannot be built that way
    with pytest.raises(BeyondLoopbackError):
        create_app(
            review_service(Runtime(endpoint_url=stack.endpoint, env=stack.env), stack.bucket), host=EVERY_INTERFACE
        )


def test_bound_to_every_interface_only_the_allowed_names_are_served(stack: Stack) -> None:
    # GIVEN the page bound to every interface with one allowed host name
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    app = create_app(
        review_service(runtime, stack.bucket), host=EVERY_INTERFACE, allowed_hosts=["Review.Example.Internal"]
    )
    client = app.test_client()

    # WHEN pages are asked for under several Host names
    answers = {
        host: client.get("/check", headers={"Host": host}).status_code
        for host in (
            "review.example.internal:8080",
            "127.0.0.1:8080",
            "attacker.example:8080",  # a DNS-rebinding page whose own name now resolves to this machine
            "review.example.internal.attacker.example",
            "0.0.0.0:8080",
            "review.example.internal<script>",
        )
    }

    # THEN only the allowed name (any case) and loopback are served; a rebinding page gets a 400 and no page
    assert answers == {
        "review.example.internal:8080": 200,
        "127.0.0.1:8080": 200,
        "attacker.example:8080": 400,
        "review.example.internal.attacker.example": 400,
        "0.0.0.0:8080": 400,
        "review.example.internal<script>": 400,
    }


def test_a_dns_rebinding_post_is_refused_before_anything_is_approved(stack: Stack, quarantined: str) -> None:
    # GIVEN the page bound to every interface for review.example.internal, and a quarantined image
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    app = create_app(
        review_service(runtime, stack.bucket), host=EVERY_INTERFACE, allowed_hosts=["review.example.internal"]
    )
    client = app.test_client()

    # WHEN a page at attacker.example (resolving to this machine) posts an Approve, as same-origin as it can be
    response = client.post(
        "/approve",
        data={"bucket": stack.bucket, "key": quarantined},
        headers={"Host": "attacker.example", "Origin": "http://attacker.example", "Sec-Fetch-Site": "same-origin"},
    )

    # THEN it is refused and the image stays in quarantine
    assert response.status_code == 400
    assert stack.keys() == [quarantined]


def test_the_page_serves_on_ipv6_loopback(stack: Stack) -> None:
    # GIVEN the page bound to ::1, as `review --host ::1` binds it
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    app = create_app(review_service(runtime, stack.bucket), host="::1")
    try:
        server = make_server("::1", 0, app, threaded=True)
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1 here: {exc}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # WHEN a browser opens it at http://[::1]:port/
        base = f"http://[::1]:{server.port}"
        check = requests.get(f"{base}/check", timeout=10)
        quarantine = requests.get(f"{base}/quarantine", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    # THEN the pages are served (the Host `[::1]:port` is this machine's)
    assert (check.status_code, quarantine.status_code) == (200, 200)
    assert "Check an image" in check.text


# --- "Check an image" by URL: one neutral answer ------------------------------------------------------


@pytest.fixture
def url_check(stack: Stack, httpserver: HTTPServer) -> tuple[FlaskClient, FakeNetwork]:
    """The page with a fake network: images.example is public and reaches the local server; so does slow.example."""
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more: a connection is refused
    network = FakeNetwork(
        answers={"images.example": [[PUBLIC]], "closed.example": [["93.184.215.15"]]},
        routes={PUBLIC: httpserver.port, "93.184.215.15": closed_port},
    )
    app = _app(stack)
    service: ReviewService = app.extensions["review_service"]
    service.url_fetcher = network.fetcher(deadline=1.0)
    return app.test_client(), network


def _check_url(client: FlaskClient, url: str) -> Any:
    page = client.get("/check")
    (token,) = re.findall(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    return client.post("/check", data={"csrf_token": token, "url": url}, headers={"Origin": "http://localhost"})


def test_every_failed_url_check_gets_the_same_neutral_answer(
    url_check: tuple[FlaskClient, FakeNetwork], httpserver: HTTPServer
) -> None:
    # GIVEN URLs that fail in every way a port scanner would like told apart
    client, network = url_check
    port = httpserver.port
    for path, location in {
        "/to-loopback": f"http://127.0.0.1:{port}/secret",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "/to-private": "http://10.0.0.7/admin",
    }.items():
        httpserver.expect_request(path).respond_with_data("", status=302, headers={"Location": location})
    httpserver.expect_request("/missing.jpg").respond_with_data("no", status=404)
    drip = SlowDrip(headers_too=False)
    network.answers["slow.example"] = [["93.184.215.16"]]
    network.routes["93.184.215.16"] = drip.port
    urls = [
        f"http://images.example:{port}/to-loopback",
        f"http://images.example:{port}/to-metadata",
        f"http://images.example:{port}/to-private",
        f"http://127.0.0.1:{port}/secret",
        "http://closed.example/cat.jpg",
        f"http://images.example:{port}/missing.jpg",
        "http://nowhere.example/cat.jpg",
        f"http://slow.example:{drip.port}/slow.jpg",
    ]

    # WHEN each is checked on the page
    try:
        answers = [_check_url(client, url) for url in urls]
    finally:
        drip.close()

    # THEN every answer is the same status and the same message, naming no address, port or reason
    problems = {re.findall(r'role="alert">([^<]*)<', a.get_data(as_text=True))[0] for a in answers}
    assert {a.status_code for a in answers} == {400}
    assert problems == {"Could not fetch an image from that URL."}
    # AND no connection went anywhere but the routed public addresses: never 127.0.0.1, 169.254.169.254 or 10.x
    assert set(network.connected) <= {PUBLIC, "93.184.215.15", "93.184.215.16"}
    assert [request.path for request, _ in httpserver.log if request.path == "/secret"] == []


def test_a_public_image_url_is_checked(
    url_check: tuple[FlaskClient, FakeNetwork], httpserver: HTTPServer, stack: Stack
) -> None:
    # GIVEN an image at a public URL
    client, _ = url_check
    stack.imagga.answer_for_colour(RED, UNSAFE)
    httpserver.expect_request("/party.jpg").respond_with_data(jpeg_bytes(color=RED), content_type="image/jpeg")

    # WHEN it is checked on the page / THEN its verdict is shown
    answer = _check_url(client, f"http://images.example:{httpserver.port}/party.jpg")
    assert answer.status_code == 200
    assert 'data-testid="verdict">UNSAFE<' in answer.get_data(as_text=True)


# --- a decision acts on what the moderator saw ------------------------------------------------------


def test_approving_with_a_stale_view_is_refused_and_moves_nothing(
    stack: Stack, quarantined: str, client: FlaskClient
) -> None:
    # GIVEN the quarantine page as the moderator saw it, and then other bytes put at the quarantined key
    page = client.get("/quarantine").get_data(as_text=True)
    (token,) = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    fields = dict(re.findall(r'<input type="hidden" name="(bucket|key|etag|sha256)" value="([^"]*)"', page))
    stack.s3.put_object(Bucket=stack.bucket, Key=quarantined, Body=jpeg_bytes(color=BLUE))

    # WHEN the moderator approves what they saw
    response = client.post(
        "/approve",
        data={"csrf_token": token, "back": "quarantine_list", **fields},
        headers={"Origin": "http://localhost"},
    )

    # THEN the page says the object changed; nothing was released or approved
    assert response.status_code == 409
    assert "Changed since you looked" in _text(response)
    assert stack.keys() == [quarantined]
    assert [i for i in stack.dynamodb.scan(TableName=stack.table)["Items"] if i["kind"]["S"] == "approval"] == []


# --- a moderator's day: pages, bulk and dismissals without a browser ------------------------------------


def _token(client: FlaskClient, path: str = "/quarantine") -> str:
    (token,) = set(re.findall(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)))
    return token


def test_head_is_answered_like_get_on_every_page(stack: Stack, quarantined: str, client: FlaskClient) -> None:
    # GIVEN the review page with a quarantined image, and the address of its thumbnail
    html = client.get("/quarantine").get_data(as_text=True)
    thumbnail = re.findall(r'<img src="([^"]+)"', html)[0].replace("&amp;", "&")
    reject = re.findall(r'href="(/reject\?[^"]+)"', html)[0].replace("&amp;", "&")
    pages = ["/", "/check", "/review", "/quarantine", "/quarantine?page=garbage", thumbnail, reject, "/favicon.ico"]
    pages.append("/static/review.css")

    # WHEN each is asked for with GET and with HEAD
    answers = {path: (client.get(path), client.head(path)) for path in pages}

    # THEN HEAD gets GET's status and headers, and no body
    for path, (get, head) in answers.items():
        assert get.status_code in (200, 301), (path, get.status_code)
        assert (head.status_code, head.mimetype) == (get.status_code, get.mimetype), path
        assert head.data == b"", path
        assert head.headers["Content-Security-Policy"] == get.headers["Content-Security-Policy"], path


def test_the_favicon_is_the_pages_own(client: FlaskClient) -> None:
    # GIVEN a browser that asks for /favicon.ico, and one that reads the page's icon link
    ico = client.get("/favicon.ico")
    page = client.get("/check").get_data(as_text=True)
    (link,) = re.findall(r'<link rel="icon" href="([^"]+)"', page)

    # WHEN each follows where it is sent / THEN both get the same SVG icon from the page itself
    assert ico.status_code == 301 and ico.headers["Location"].endswith(link)
    icon = client.get(link)
    assert (icon.status_code, icon.mimetype) == (200, "image/svg+xml")
    assert icon.data.startswith(b"<svg")


def test_dismissing_a_review_object_that_is_still_there_is_refused(stack: Stack, client: FlaskClient) -> None:
    # GIVEN a REVIEW object left in place and still there
    stack.imagga.answer_for_colour(BLUE, {"nsfw": 3.0, "underwear": 70.0, "safe": 27.0})
    outcome = stack.upload_and_moderate("uploads/maybe.jpg", jpeg_bytes(color=BLUE))
    token = _token(client, "/review")

    # WHEN a dismissal is posted for it (to hide it from review without a decision)
    response = client.post(
        "/dismiss",
        data={
            "csrf_token": token,
            "bucket": stack.bucket,
            "key": "uploads/maybe.jpg",
            "scan_bucket": stack.bucket,
            "scan_key": "uploads/maybe.jpg",
            "scanned_at": str(outcome.scanned_at),
        },
        headers={"Origin": "http://localhost"},
    )

    # THEN it is refused, and the scan still waits for review
    assert response.status_code == 409
    assert "Still there" in _text(response) and "approve or reject it" in _text(response)
    (item,) = stack.decisions("uploads/maybe.jpg")
    assert item["status"]["S"] == "REVIEW" and "decided_by" not in item
    assert "uploads/maybe.jpg" in client.get("/review").get_data(as_text=True)


def test_a_bulk_decision_posted_from_another_site_is_refused(
    stack: Stack, quarantined: str, client: FlaskClient
) -> None:
    # GIVEN a moderator with the page open, and another site that posts a confirmed bulk rejection
    token = _token(client)
    selected = f"bucket={stack.bucket}&key={quarantined}"

    # WHEN the forged post arrives, with the moderator's cookie and even a valid token
    response = client.post(
        "/bulk",
        data={"csrf_token": token, "decision": "reject", "confirmed": "yes", "selected": selected},
        headers={"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"},
    )

    # THEN it is refused and nothing is deleted
    assert response.status_code == 403
    assert stack.keys() == [quarantined]


def test_a_bulk_selection_naming_other_bytes_than_those_judged_moves_nothing(
    stack: Stack, quarantined: str, client: FlaskClient
) -> None:
    # GIVEN a bulk approval whose selection was edited to name other bytes (a SHA-256 the function never judged)
    token = _token(client)
    selected = f"bucket={stack.bucket}&key={quarantined}&sha256={'0' * 64}"

    # WHEN it is confirmed
    response = client.post(
        "/bulk",
        data={"csrf_token": token, "decision": "approve", "confirmed": "yes", "selected": selected},
        headers={"Origin": "http://localhost"},
    )

    # THEN its line says the object is not what was reviewed, and it stays in quarantine, unapproved
    assert response.status_code == 200
    assert "0 of 1 approved" in _text(response)
    assert "Changed since you looked" in _text(response)
    assert stack.keys() == [quarantined]
    assert [i for i in stack.dynamodb.scan(TableName=stack.table)["Items"] if i["kind"]["S"] == "approval"] == []


def test_limits_are_said_in_megabytes_and_in_the_configured_pixels(stack: Stack) -> None:
    # GIVEN the page with a 1 MB upload limit and the default pixel limit (100,000,000)
    client = _app(stack, MAX_IMAGE_BYTES=str(1024 * 1024)).test_client()
    token = _token(client, "/check")

    # WHEN a file over the size limit, then a PNG of 20,000 x 10,000 pixels (over Pillow's own guard too), is checked
    too_big = client.post(
        "/check",
        data={"csrf_token": token, "file": (io.BytesIO(b"\xff" * (1024 * 1024 + 70 * 1024)), "big.jpg")},
        headers={"Origin": "http://localhost"},
        content_type="multipart/form-data",
    )
    huge = client.post(
        "/check",
        data={"csrf_token": token, "file": (io.BytesIO(_png_header(20_000, 10_000)), "huge.png")},
        headers={"Origin": "http://localhost"},
        content_type="multipart/form-data",
    )

    # THEN the size is said in MB, and the pixel limit is the configured one, not Pillow's 178,956,970
    assert too_big.status_code == 413
    assert "over the limit of 1 MB" in _text(too_big)
    assert huge.status_code == 200
    assert "UNSUPPORTED" in _text(huge)
    assert "over the limit of 100,000,000 pixels" in _text(huge)
    assert "178956970" not in _text(huge) and "178,956,970" not in _text(huge)
    assert stack.imagga.requests(path_prefix="/v2/categories") == []
    assert "Images up to 1 MB and 100,000,000 pixels" in _text(client.get("/check"))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size (and holds one pixel's data): enough for any decoder to read its header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def test_approving_a_review_object_in_place_says_nothing_moved(stack: Stack, client: FlaskClient) -> None:
    # GIVEN a REVIEW object left where it was uploaded
    stack.imagga.answer_for_colour(BLUE, {"nsfw": 3.0, "underwear": 70.0, "safe": 27.0})
    stack.upload_and_moderate("uploads/maybe.jpg", jpeg_bytes(color=BLUE))
    token = _token(client, "/review")

    # WHEN the moderator approves it
    response = client.post(
        "/approve",
        data={"csrf_token": token, "bucket": stack.bucket, "key": "uploads/maybe.jpg", "back": "review_list"},
        headers={"Origin": "http://localhost"},
        follow_redirects=True,
    )

    # THEN the message says it was approved in place, nothing moved
    assert "Approved in place: s3://" in _text(response)
    assert "stays where it is, tagged APPROVED (nothing moved)" in _text(response)
    assert stack.keys() == ["uploads/maybe.jpg"]


def test_the_overview_says_why_the_queues_cannot_be_read(stack: Stack) -> None:
    # GIVEN the page started with a stack name that does not exist
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    queues = stack_queues(runtime, "no-such-stack", None, None)
    client = create_app(review_service(runtime, stack.bucket, queues=queues)).test_client()

    # WHEN the overview is opened
    response = client.get("/")

    # THEN the page is served, and the queues' place says why their depth is unknown
    assert response.status_code == 200
    assert "Queue depth unavailable: ValidationError" in _text(response)
    assert "no-such-stack" in _text(response)
