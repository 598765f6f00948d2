"""Small builders for events, image bytes, Imagga answers and a Lambda context.

Shared by unit and integration tests. The event builders make variations (other keys, versions,
counts) of the shapes in infra/events/, whose samples come from the SAM CLI and published AWS
samples (infra/events/README.md); every shape is also tested on those samples. Images are made
with Pillow in memory, a few bytes to a few kilobytes each.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from PIL import Image

EVENTS_DIR = Path(__file__).resolve().parent.parent / "infra" / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"

Color = tuple[int, int, int] | tuple[int, int, int, int] | str

# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def load_event(name: str) -> dict[str, Any]:
    """A sample event from infra/events (`name` with or without `.json`)."""
    filename = name if name.endswith(".json") else f"{name}.json"
    return json.loads((EVENTS_DIR / filename).read_text(encoding="utf-8"))


def s3_record(
    bucket: str,
    key: str,
    *,
    encoded: bool = True,
    version_id: str | None = None,
    etag: str | None = None,
    size: int | None = None,
    event_name: str = "ObjectCreated:Put",
    sequencer: str = "0066436D2E9E5A1A2B",
) -> dict[str, Any]:
    """One S3 notification record. `encoded` URL-encodes the key the way S3 does (`quote_plus`)."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/") if encoded else key,
        "size": 1024 if size is None else size,
        "eTag": etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(),
        "sequencer": sequencer,
    }
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2024-05-14T09:21:37.512Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.15"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpc="},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "moderate-incoming-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_notification(*records: dict[str, Any]) -> dict[str, Any]:
    """An S3 notification (`{"Records": [...]}`), as delivered to Lambda, SQS or SNS."""
    return {"Records": list(records)}


def s3_test_event(bucket: str = "moderation-demo-bucket") -> dict[str, Any]:
    """What S3 sends once when a notification configuration is saved."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-05-14T09:00:02.089Z",
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }


def sqs_event(*bodies: dict[str, Any] | str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event with one message per body (dicts are JSON-encoded); ids `msg-1`, `msg-2`, ..."""
    records = []
    for number, body in enumerate(bodies, start=1):
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        records.append(
            {
                "messageId": f"msg-{number}",
                "receiptHandle": f"AQEBreceipt-handle-{number}==",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1715678497601",
                    "SenderId": "AROAZG4SNRQQTN3EXAMPL:S3-PROD-END",
                    "ApproximateFirstReceiveTimestamp": "1715678497611",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:moderation-demo-queue",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def sns_envelope(message: dict[str, Any] | str) -> dict[str, Any]:
    """The SNS envelope an SQS subscription (without raw delivery) receives as its body."""
    text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:moderation-demo-uploads"
    return {
        "Type": "Notification",
        "MessageId": "a1b2c3d4-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
        "TopicArn": topic,
        "Subject": "Amazon S3 Notification",
        "Message": text,
        "Timestamp": "2024-05-14T09:21:37.902Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQ==",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1c3ad9d6",
    }


def sns_event(message: dict[str, Any] | str) -> dict[str, Any]:
    """A direct SNS invocation of the function carrying `message`."""
    envelope = sns_envelope(message)
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{envelope['TopicArn']}:1c3ad9d6",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": envelope["Timestamp"],
                    "Signature": envelope["Signature"],
                    "SigningCertUrl": envelope["SigningCertURL"],
                    "MessageId": envelope["MessageId"],
                    "Message": envelope["Message"],
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": envelope["UnsubscribeURL"],
                    "TopicArn": envelope["TopicArn"],
                    "Subject": envelope["Subject"],
                },
            }
        ]
    }


def eventbridge_event(
    bucket: str, key: str, version_id: str | None = None, etag: str | None = None, size: int = 1024
) -> dict[str, Any]:
    """An EventBridge "Object Created" event. The key is raw, as EventBridge sends it."""
    obj: dict[str, Any] = {
        "key": key,
        "size": size,
        "etag": etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(),
        "sequencer": "617f08299329d189",
    }
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2024-05-14T09:21:37Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def batch_operations_event(
    bucket: str, *keys: str, schema: str = "2.0", version_id: str | None = None
) -> dict[str, Any]:
    """An S3 Batch Operations invocation with one task per key (task ids `task-1`, ...).

    Fields as in infra/events/batch-operations-*.json: schema 1.0 names the bucket by ARN
    (`s3BucketArn`), 2.0 by name (`s3Bucket`); keys are URL-encoded as `backfill --batch-operations`
    writes them in the manifest.
    """
    tasks = []
    for number, key in enumerate(keys, start=1):
        task: dict[str, Any] = {"taskId": f"task-{number}", "s3Key": quote(key, safe="/")}
        task["s3VersionId"] = version_id
        if schema == "1.0":
            task["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
        else:
            task["s3Bucket"] = bucket
        tasks.append(task)
    job: dict[str, Any] = {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"}
    if schema != "1.0":
        job["userArguments"] = {}
    return {
        "invocationSchemaVersion": schema,
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": job,
        "tasks": tasks,
    }


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, color: Color = (200, 120, 40), quality: int = 90) -> bytes:
    return _encode(Image.new("RGB", (width, height), color), "JPEG", quality=quality)


def png_bytes(width: int = 64, height: int = 48, color: Color = (40, 120, 200), *, alpha: int | None = None) -> bytes:
    """A PNG; with `alpha` (0-255) it is RGBA with that opacity everywhere."""
    if alpha is None:
        return _encode(Image.new("RGB", (width, height), color), "PNG")
    rgb = Image.new("RGB", (width, height), color).getpixel((0, 0))
    assert isinstance(rgb, tuple)
    return _encode(Image.new("RGBA", (width, height), (*rgb[:3], alpha)), "PNG")


def gif_bytes(
    width: int = 32,
    height: int = 32,
    colors: tuple[Color, ...] = ((255, 0, 0), (0, 0, 255)),
    frames: int = 2,
) -> bytes:
    """An animated GIF; frame n is colors[n % len(colors)] (the first frame is colors[0])."""
    images = [Image.new("RGB", (width, height), colors[n % len(colors)]) for n in range(frames)]
    if frames == 1:
        return _encode(images[0], "GIF")
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def webp_bytes(width: int = 64, height: int = 48, color: Color = (10, 160, 90)) -> bytes:
    return _encode(Image.new("RGB", (width, height), color), "WEBP", quality=90)


def bmp_bytes(width: int = 64, height: int = 48, color: Color = (90, 10, 160)) -> bytes:
    return _encode(Image.new("RGB", (width, height), color), "BMP")


def tiff_bytes(width: int = 64, height: int = 48, color: Color = (160, 90, 10)) -> bytes:
    return _encode(Image.new("RGB", (width, height), color), "TIFF")


def jpeg_with_exif_orientation(width: int = 60, height: int = 30, orientation: int = 6) -> bytes:
    """A landscape JPEG (left half red, right half blue) whose EXIF says how to turn it.

    Orientation 6 means "rotate 90° clockwise to display": shown upright it is `height` x `width`,
    with red on top and blue below.
    """
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(image, "JPEG", quality=95, exif=exif.tobytes())


def animation_bytes(fmt: str, colors: tuple[Color, ...], width: int = 40, height: int = 30, **options: Any) -> bytes:
    """One frame per colour, saved by Pillow as an animation (GIF, WEBP, PNG = APNG, AVIF) or pages (TIFF)."""
    images = [Image.new("RGB", (width, height), color) for color in colors]
    extra: dict[str, Any] = {"save_all": True, "append_images": images[1:], **options}
    if fmt in ("GIF", "WEBP", "PNG", "AVIF"):
        extra.setdefault("duration", 100)
        extra.setdefault("loop", 0)
    if fmt == "WEBP":
        extra.setdefault("lossless", True)
    if fmt == "AVIF":
        extra.setdefault("quality", 90)
    return _encode(images[0], fmt, **extra)


def avif_bytes(
    width: int = 64, height: int = 48, color: Color = (30, 90, 200), orientation: int | None = None
) -> bytes:
    """An AVIF written by Pillow's own AVIF plugin; with `orientation`, an EXIF orientation too."""
    image = Image.new("RGB", (width, height), color)
    if orientation is None:
        return _encode(image, "AVIF", quality=90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(image, "AVIF", quality=90, exif=exif.tobytes())


def quadrants_with_exif_orientation(orientation: int, width: int = 80, height: int = 40) -> bytes:
    """A JPEG whose upright picture is `width` x `height` with red, green / blue, white quadrants
    (top-left, top-right / bottom-left, bottom-right), stored the way EXIF `orientation` describes:
    a viewer that applies the orientation shows the upright picture.
    """
    from PIL import ImageOps

    upright = Image.new("RGB", (width, height), (255, 255, 255))
    half_w, half_h = width // 2, height // 2
    upright.paste((255, 0, 0), (0, 0, half_w, half_h))
    upright.paste((0, 255, 0), (half_w, 0, width, half_h))
    upright.paste((0, 0, 255), (0, half_h, half_w, height))
    # Storing is the inverse of what the viewer does: undo each orientation's transposition.
    undo = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright if undo is None else upright.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    # The builder is right only if Pillow's own viewer-side transposition gives the upright picture back.
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size == (width, height)
    return data


def png16_rgb_bytes(width: int, height: int, rgb16: tuple[int, int, int]) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), written chunk by chunk."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + struct.pack(">HHH", *rgb16) * width  # filter type 0, then big-endian samples
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 (RGB)
    pixels = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


#: sRGB's colorants, adapted to D50 as ICC profiles store them.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def icc_rgb_profile(
    red: tuple[float, float, float], green: tuple[float, float, float], blue: tuple[float, float, float]
) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and gamma 2.2 curves) with the given colorants.

    With red and blue swapped, a pixel stored as pure red is shown blue by every colour-managed viewer.
    """
    import struct

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    name = b"test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + struct.pack(">IIHB", 0, 0, 0, 0) + b"\0" * 67
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    entries, bodies = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        entries += signature + struct.pack(">II", offset + len(bodies), len(body))
        bodies += body
    size = offset + len(bodies)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + entries + bodies


# --------------------------------------------------------------------------------------------
# Imagga answers
# --------------------------------------------------------------------------------------------


def imagga_success(scores: dict[str, float]) -> dict[str, Any]:
    """The JSON body of a successful categorization (labels in the given order)."""
    return {
        "result": {"categories": [{"confidence": value, "name": {"en": label}} for label, value in scores.items()]},
        "status": {"text": "", "type": "success"},
    }


def imagga_error(text: str) -> dict[str, Any]:
    """The JSON body Imagga sends with an error status."""
    return {"status": {"text": text, "type": "error"}}


def imagga_upload(upload_id: str = "i05e132196706b94b1d85efb5f3SaM1j") -> dict[str, Any]:
    """The JSON body of a successful POST /v2/uploads."""
    return {"result": {"upload_id": upload_id}, "status": {"text": "", "type": "success"}}


# --------------------------------------------------------------------------------------------
# Lambda context
# --------------------------------------------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' logger reads, and a fixed remaining time."""

    remaining_ms: int = 300_000
    function_name: str = "imagga-s3-moderator"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:imagga-s3-moderator"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/imagga-s3-moderator"
    log_stream_name: str = "2024/05/14/[$LATEST]0123456789abcdef0123456789abcdef"
    extras: dict[str, Any] = field(default_factory=dict)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
