"""Writes infra/events/ from samples this project did not write: the SAM CLI's and published ones.

Every sample comes from `sam local generate-event` or from a published sample kept verbatim in
`sources/` (Powertools for AWS Lambda's test events and the Amazon S3 User Guide's examples, both
MIT-0). Only the bucket and the key are changed; an SQS or SNS envelope gets the S3 or EventBridge
sample it carries as its message (and the SQS `md5OfBody` that goes with that body). README.md
says where each file comes from.

    .venv/bin/python -m infra.events.generate            # rewrite infra/events/*.json
    .venv/bin/python -m infra.events.generate --out DIR  # write them elsewhere (the tests compare)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
DEFAULT_SAM = HERE.parents[1] / ".venv-sam" / "bin" / "sam"

BUCKET = "moderation-demo-bucket"
#: A key S3 must encode: spaces, a plus sign and non-ASCII letters.
KEY = "incoming/summer holiday/café + friends.jpg"
VERSIONED_KEY = "incoming/portraits/IMG_0042.JPG"
#: The key Batch Operations tasks name (URL-encoded in the task, as in a CSV manifest).
ARCHIVE_KEY = "incoming/archive/old photo(1)+.jpg"

Event = dict[str, Any]


def sam_event(sam: Path, *args: str) -> Event:
    """`sam local generate-event ARGS`, parsed."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [str(sam), "local", "generate-event", *args], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    parsed: Event = json.loads(result.stdout)
    return parsed


def source(name: str) -> Event:
    parsed: Event = json.loads((SOURCES / name).read_text(encoding="utf-8"))
    return parsed


def compact(event: Event) -> str:
    """A message body as AWS writes one: JSON without spaces."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def in_sqs(envelope: Event, body: str) -> Event:
    """The SQS envelope carrying `body`, with the MD5 SQS computes for it."""
    event = copy.deepcopy(envelope)
    record = event["Records"][0]
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    return event


def with_s3_object(event: Event, bucket: str, key: str) -> Event:
    """An S3 notification's bucket (name and ARN) and key (URL-encoded, as S3 writes it) changed."""
    event = copy.deepcopy(event)
    for record in event["Records"]:
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    return event


def with_eventbridge_object(event: Event, bucket: str, key: str) -> Event:
    """An EventBridge S3 event's bucket (name and resource ARN) and key (as written) changed."""
    event = copy.deepcopy(event)
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    return event


def sns_in_sqs(envelope: Event, message: str) -> Event:
    """Powertools' captured SNS-in-SQS event with `message` in place of its own.

    The SNS body keeps SNS's own layout (`"Type" : "Notification"`): only the Message value is swapped.
    """
    body: str = envelope["Records"][0]["body"]
    old = json.dumps(json.loads(body)["Message"])
    assert body.count(old) == 1, "the sample's Message is not where it was"
    return in_sqs(envelope, body.replace(old, json.dumps(message)))


def build(sam: Path) -> dict[str, Event]:
    """Every sample, by file name."""
    s3_put = sam_event(sam, "s3", "put", "--bucket", BUCKET, "--key", KEY)
    s3_put_versioned = with_s3_object(source("aws-docs/s3-put-versioned.json"), BUCKET, VERSIONED_KEY)
    sqs = sam_event(sam, "sqs", "receive-message")
    sns = sam_event(sam, "sns", "notification")
    test_event = {**source("aws-docs/s3-test-event.json"), "Bucket": BUCKET}

    versioned_in_sqs = source("powertools/s3SqsEvent.json")
    versioned_body = with_s3_object(json.loads(versioned_in_sqs["Records"][0]["body"]), BUCKET, VERSIONED_KEY)

    sns_s3 = copy.deepcopy(sns)
    sns_s3["Records"][0]["Sns"]["Message"] = compact(s3_put)

    batch_2 = source("powertools/s3BatchOperationEventSchemaV2.json")
    for task in batch_2["tasks"]:
        task["s3Bucket"] = BUCKET
        task["s3Key"] = quote(ARCHIVE_KEY, safe="/")  # what `backfill --batch-operations` writes in the manifest

    eventbridge_unversioned = with_eventbridge_object(
        source("powertools/s3EventBridgeNotificationObjectCreatedEvent.json"), BUCKET, KEY
    )
    return {
        "s3-put.json": s3_put,
        "s3-put-versioned.json": s3_put_versioned,
        "s3-delete.json": sam_event(sam, "s3", "delete", "--bucket", BUCKET, "--key", KEY),
        "sns-s3.json": sns_s3,
        "sqs-s3.json": in_sqs(sqs, compact(s3_put)),
        "sqs-s3-versioned.json": in_sqs(versioned_in_sqs, compact(versioned_body)),
        "sqs-s3-test-event.json": in_sqs(sqs, compact(test_event)),
        "sqs-sns-s3.json": sns_in_sqs(source("powertools/snsSqsEvent.json"), compact(s3_put_versioned)),
        "eventbridge-object-created.json": with_eventbridge_object(
            source("aws-docs/eventbridge-object-created.json"), BUCKET, KEY
        ),
        "eventbridge-object-deleted.json": with_eventbridge_object(
            source("aws-docs/eventbridge-object-deleted.json"), BUCKET, KEY
        ),
        "sqs-eventbridge.json": in_sqs(sqs, compact(eventbridge_unversioned)),
        "batch-operations-1.0.json": sam_event(
            sam, "s3", "batch-invocation", "--bucket-arn", f"arn:aws:s3:::{BUCKET}", "--key", ARCHIVE_KEY
        ),
        "batch-operations-2.0.json": batch_2,
    }


def render(event: Event) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def write(out: Path, sam: Path, *, echo: Callable[[str], None] = print) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, event in build(sam).items():
        path = out / name
        path.write_text(render(event), encoding="utf-8")
        written.append(path)
        echo(f"wrote {path}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sam", type=Path, default=DEFAULT_SAM, help="the SAM CLI (default: .venv-sam/bin/sam)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: infra/events)")
    args = parser.parse_args(argv)
    write(args.out, args.sam)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
