"""`check PATH_OR_URL`: one image's scores and verdict, from a file, an http(s) URL or an s3:// object."""

from __future__ import annotations

import json
from pathlib import Path

from infra.local.stack import DEMO_UNSAFE_NSFW, DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack
from pytest_httpserver import HTTPServer

from tests.builders import png_bytes
from tests.cli.conftest import Cli, assert_one_line_error

COFFEE = SAMPLES / "coffee.jpg"
EXIT_NOT_AN_IMAGE = 3


def test_check_of_a_local_file_prints_each_label_and_the_verdict(cli: Cli, stack: LocalStack) -> None:
    # GIVEN the demo sample, which the emulator scores 97.5 % nsfw
    # WHEN an operator checks it
    result = cli("check", str(DEMO_UNSAFE_SAMPLE))

    # THEN a table of labels and the verdict, and Imagga was asked once
    assert result.exit_code == 0, result.output
    assert "nsfw" in result.stdout and "97.50" in result.stdout
    assert "verdict: UNSAFE" in result.stdout
    assert stack.imagga.count("/v2/categories/", answered=200) == 1


def test_check_json_has_source_status_scores_categorizer_and_thresholds(cli: Cli) -> None:
    result = cli("check", str(COFFEE), "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"source", "status", "reason", "detail", "scores", "categorizer", "thresholds"}
    assert answer["source"] == str(COFFEE)
    assert answer["status"] == "SAFE"
    assert answer["categorizer"] == "nsfw_beta"
    assert answer["thresholds"] == {"unsafe": 20.0, "review": 50.0}
    assert answer["scores"]["safe"] > answer["scores"]["nsfw"]


def test_check_of_an_http_url_downloads_and_categorizes_it(cli: Cli, httpserver: HTTPServer) -> None:
    # GIVEN the demo sample served by a local web server
    httpserver.expect_request("/photos/sample.png").respond_with_data(
        DEMO_UNSAFE_SAMPLE.read_bytes(), content_type="image/png"
    )
    url = httpserver.url_for("/photos/sample.png")

    result = cli("check", url, "--json", "--allow-private-urls")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["source"] == url
    assert answer["status"] == "UNSAFE"
    assert answer["scores"]["nsfw"] == DEMO_UNSAFE_NSFW


def test_check_of_a_url_over_the_size_cap_stops_with_a_clear_error(cli: Cli, httpserver: HTTPServer) -> None:
    # GIVEN a 20 KB answer and a 5 KB cap
    httpserver.expect_request("/huge.png").respond_with_data(b"\x89PNG" + b"\0" * 20_000, content_type="image/png")
    url = httpserver.url_for("/huge.png")

    result = cli("check", url, "--allow-private-urls", MAX_IMAGE_BYTES="5000")

    assert_one_line_error(result, 1, url, "larger than the limit of 5000 bytes")


def test_check_of_a_url_that_answers_404_names_the_status(cli: Cli, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing.png").respond_with_data("not found", status=404)
    url = httpserver.url_for("/missing.png")

    result = cli("check", url, "--allow-private-urls")

    assert_one_line_error(result, 1, url, "HTTP 404")


def test_check_of_a_url_on_this_machine_is_refused_unless_the_operator_allows_it(
    cli: Cli, httpserver: HTTPServer
) -> None:
    # GIVEN an image served on 127.0.0.1 (a URL may name the operator's own machine or network)
    httpserver.expect_request("/local.png").respond_with_data(DEMO_UNSAFE_SAMPLE.read_bytes(), content_type="image/png")
    url = httpserver.url_for("/local.png")

    # WHEN it is checked without --allow-private-urls
    result = cli("check", url)

    # THEN it is refused before any request is made, saying why and how to allow it
    assert_one_line_error(result, 1, "127.0.0.1", "not a public address", "--allow-private-urls")
    assert httpserver.log == []


def test_check_of_an_s3_object_reads_it_from_the_bucket(cli: Cli, stack: LocalStack) -> None:
    # GIVEN an image stored outside the moderated prefix (no event, no function run)
    key = "operator-checks/coffee.jpg"
    stack.boto3_client("s3").put_object(Bucket=stack.bucket, Key=key, Body=COFFEE.read_bytes())

    result = cli("check", f"s3://{stack.bucket}/{key}", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "SAFE"


def test_check_of_a_file_that_is_not_an_image_exits_3_without_calling_imagga(
    cli: Cli, stack: LocalStack, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("shopping list: milk, eggs\n")

    result = cli("check", str(notes))

    assert_one_line_error(result, EXIT_NOT_AN_IMAGE, str(notes), "not-an-image")
    assert stack.imagga.count("/v2/") == 0


def test_check_of_a_missing_file_says_so_in_one_line(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.png"

    result = cli("check", str(missing))

    assert_one_line_error(result, 1, str(missing), "no such file")


def test_check_of_a_local_file_needs_no_aws_endpoint(cli: Cli, tmp_path: Path) -> None:
    # GIVEN a small PNG and no --endpoint-url at all
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(64, 64))

    result = cli("check", str(image), "--json", endpoint=False)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] in ("SAFE", "REVIEW", "UNSAFE")


def test_aws_region_alone_is_enough_for_every_client_the_command_makes(cli: Cli, stack: LocalStack) -> None:
    # GIVEN the region only in AWS_REGION (boto3 itself reads AWS_DEFAULT_REGION), and an approvals
    # table and the Imagga secret in Secrets Manager, so DynamoDB and Secrets Manager clients are needed too
    assert stack.idempotency_table

    result = cli(
        "check",
        str(COFFEE),
        "--json",
        AWS_DEFAULT_REGION=None,
        APPROVALS_TABLE=stack.idempotency_table,
        IMAGGA_API_KEY=None,
        IMAGGA_API_SECRET=None,
        IMAGGA_SECRET_ARN=stack.secret_arn,
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "SAFE"
