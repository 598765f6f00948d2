"""`make soak`: hundreds of awkward objects through the whole local stack while Imagga and S3 misbehave.

The Imagga emulator answers a share of requests with 429, the limit-403, 500, 503, no answer
(a timeout) or a malformed body; the function's S3 client gets 503 SlowDown and 500 answers
(botocore retries them, as in AWS). Uploads come in waves: the pollers are paused while a wave is
uploaded and while some of its objects are deleted, overwritten, uploaded twice or announced
twice, so those twists happen while the messages wait, every time.

When the queue has drained, every object is checked where it should be:

- **lost**: an object's latest content is neither at its key nor in quarantine;
- **unlabelled**: an object that survives has no `moderation:status` (a message that ends in the
  dead-letter queue leaves its object tagged ERROR, which is a status);
- **wrong place**: in quarantine without a quarantinable status, at its key with one, a deleted
  object quarantined;
- **wrong verdict**: a status other than the one the fixed scores decide (ERROR excepted: that is
  what a message gets after its last attempt failed).

Prints one summary line; exits 1 when any of those counts is not zero, or the queue did not drain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from botocore.exceptions import ClientError

from infra.local.imagga_emulator import Faults
from infra.local.stack import STATUS_TAG, LocalStack

from .s3_faults import S3Faults
from .workload import SCORES, Planned, Twist, plan, sha256

#: Longer than a poller's long poll (1 s): after it, paused pollers receive nothing more.
QUIET_SECONDS = 1.5


@dataclass(frozen=True)
class SoakConfig:
    objects: int = 500
    wave: int = 100
    seed: int = 7
    visibility_timeout: int = 10
    function_timeout: int = 30
    batch_size: int | None = None  # the template's
    wave_gap: float = 3.0  # seconds the function works between two waves
    drain_timeout: float = 900.0
    imagga_read_timeout: float = 2.0
    imagga_max_attempts: int | None = None  # the function's default
    imagga_faults: Faults = field(
        default_factory=lambda: Faults(
            latency=0.02,
            latency_max=0.08,
            rate_429=0.04,
            rate_limit_403=0.02,
            rate_500=0.02,
            rate_503=0.04,
            rate_timeout=0.01,
            rate_malformed=0.02,
            timeout_hold=2.5,
        )
    )
    s3_rate_slowdown: float = 0.03
    s3_rate_500: float = 0.02
    # An Imagga outage (every call a 503) after this wave, long enough for messages to come back
    # from SQS and some to reach their last attempt.
    outage_after_wave: int | None = 2
    outage_seconds: float = 35.0


@dataclass
class SoakResult:
    objects: int = 0
    puts: int = 0
    twists: Counter[str] = field(default_factory=Counter)
    imagga_faults: Counter[str] = field(default_factory=Counter)
    s3_faults: Counter[str] = field(default_factory=Counter)
    imagga_paid: int = 0
    imagga_failed: int = 0
    sqs_redeliveries: int = 0
    dead_lettered: int = 0
    #: The status of each dead-lettered message's object now (another delivery may have labelled it since).
    dead_letter_statuses: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    wrong_place: list[str] = field(default_factory=list)
    wrong_verdict: list[str] = field(default_factory=list)
    in_both_places: int = 0
    duplicates: int = 0
    duplicates_paid_twice: int = 0
    paid_twice: int = 0
    drained: bool = True
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.drained and not (self.lost or self.unlabelled or self.wrong_place or self.wrong_verdict)

    def summary(self) -> str:
        def kinds(counter: Counter[str]) -> str:
            return " ".join(f"{kind}={count}" for kind, count in sorted(counter.items())) or "none"

        per_object = max(self.objects, 1)
        return (
            f"soak: {self.objects} objects ({self.puts} PUTs; {kinds(self.twists)}) in {self.seconds:.0f} s"
            f" | faults injected: imagga {kinds(self.imagga_faults)}; s3 {kinds(self.s3_faults)}"
            f" | retries: imagga {self.imagga_failed}, s3 {sum(self.s3_faults.values())} (botocore),"
            f" sqs redeliveries {self.sqs_redeliveries}, dead-lettered {self.dead_lettered}"
            f" (their objects now: {kinds(self.dead_letter_statuses)})"
            f" | lost: {len(self.lost)} | unlabelled: {len(self.unlabelled)} | wrong place: {len(self.wrong_place)}"
            f" | wrong verdict: {len(self.wrong_verdict)}"
            f" | imagga calls/object: paid {self.imagga_paid / per_object:.2f}, retries "
            f"{self.imagga_failed / per_object:.2f}; objects paid twice {self.paid_twice}"
            f" | duplicates that cost a second call: {self.duplicates_paid_twice} of {self.duplicates}"
            f" | statuses: {kinds(self.statuses)}" + ("" if self.drained else " | QUEUE DID NOT DRAIN")
        )

    def details(self) -> list[str]:
        return [
            f"{name}: {item}"
            for name, items in (
                ("lost", self.lost),
                ("unlabelled", self.unlabelled),
                ("wrong place", self.wrong_place),
                ("wrong verdict", self.wrong_verdict),
            )
            for item in items
        ]


def notification(stack: LocalStack, key: str, data: bytes) -> str:
    """An S3 ObjectCreated notification as S3 (and moto) sends it: the key `quote_plus`-encoded."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": stack.region,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"},
            "object": {
                "key": quote_plus(key, safe=""),
                "size": len(data),
                "eTag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            },
        },
    }
    return json.dumps({"Records": [record]})


class Soak:
    def __init__(self, config: SoakConfig, log: Any = print) -> None:
        self.config = config
        self.log = log
        self.s3_faults = S3Faults(rate_slowdown=config.s3_rate_slowdown, rate_500=config.s3_rate_500, seed=config.seed)
        env = {"IMAGGA_READ_TIMEOUT": str(config.imagga_read_timeout)}
        if config.imagga_max_attempts:
            env["IMAGGA_MAX_ATTEMPTS"] = str(config.imagga_max_attempts)
        self.stack = LocalStack(
            visibility_timeout=config.visibility_timeout,
            function_timeout=config.function_timeout,
            batch_size=config.batch_size,
            imagga_faults=config.imagga_faults,
            imagga_seed=config.seed,
            register_demo_sample=False,
            env=env,
            function_client_hook=self.s3_faults.attach,
        )

    def run(self) -> SoakResult:
        started = time.monotonic()
        items = plan(self.config.objects, self.config.seed)
        result = SoakResult(objects=len(items))
        with self.stack:
            for item in items:
                for verdict, data in zip(item.expected, item.versions, strict=True):
                    if verdict in SCORES:
                        self.stack.register_fixed_scores(data, SCORES[verdict])
            s3 = self.stack.boto3_client("s3")
            late: list[Planned] = []
            for number, start in enumerate(range(0, len(items), self.config.wave)):
                late = self._wave(s3, items[start : start + self.config.wave], late, result)
                time.sleep(self.config.wave_gap)
                if number == self.config.outage_after_wave:
                    self._outage()
            if late:
                self._wave(s3, [], late, result)
            result.drained = self._drain()
            self.s3_faults.enabled = False
            self._check(s3, items, result)
            self._count(items, result)
        result.seconds = time.monotonic() - started
        return result

    # --- driving ------------------------------------------------------------------------------

    def _wave(self, s3: Any, wave: list[Planned], late: list[Planned], result: SoakResult) -> list[Planned]:
        """Upload a wave with the pollers paused, twist some objects, resume. Returns this wave's late duplicates."""
        stack = self.stack
        stack.pause()
        time.sleep(QUIET_SECONDS)

        def put(item: Planned, version: int) -> None:
            s3.put_object(Bucket=stack.bucket, Key=item.key, Body=item.versions[version])
            item.puts.append(version)
            result.puts += 1

        for item in wave:
            item.key = stack.full_key(item.name)
            put(item, 0)
            if item.twist is not Twist.NONE:
                result.twists[str(item.twist)] += 1
        for item in wave:
            if item.twist is Twist.REUPLOADED:
                put(item, 0)
            elif item.twist is Twist.OVERWRITTEN:
                put(item, 1)
            elif item.twist is Twist.DELETED:
                s3.delete_object(Bucket=stack.bucket, Key=item.key)
            elif item.twist is Twist.REDELIVERED:
                stack.redeliver(notification(stack, item.key, item.latest))
        for item in late:
            stack.redeliver(notification(stack, item.key, item.latest))
        stack.resume()
        return [item for item in wave if item.twist is Twist.REDELIVERED_LATE]

    def _outage(self) -> None:
        imagga = self.stack.imagga
        usual = imagga.faults
        imagga.set_faults(replace(usual, rate_503=1.0))
        time.sleep(self.config.outage_seconds)
        imagga.set_faults(usual)

    def _drain(self) -> bool:
        """Until the queue is empty and no poller is busy, twice in a row; False on the time limit."""
        assert self.stack.mapping is not None
        deadline = time.monotonic() + self.config.drain_timeout
        quiet_checks = 0
        while time.monotonic() < deadline:
            idle = self.stack.queue_depth() == 0 and self.stack.mapping.busy == 0
            quiet_checks = quiet_checks + 1 if idle else 0
            if quiet_checks >= 2:
                return True
            time.sleep(1.0)
        return False

    # --- checking -----------------------------------------------------------------------------

    def _read(self, s3: Any, key: str) -> tuple[bytes, dict[str, str]] | None:
        try:
            data = s3.get_object(Bucket=self.stack.bucket, Key=key)["Body"].read()
            tag_set = s3.get_object_tagging(Bucket=self.stack.bucket, Key=key)["TagSet"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return data, {t["Key"]: t["Value"] for t in tag_set}

    def _check(self, s3: Any, items: list[Planned], result: SoakResult) -> None:
        settings = self.stack.settings()
        quarantinable = {str(s) for s in settings.quarantine_statuses} if settings.enforce else set()
        for item in items:
            label = f"{item.key!r} ({item.twist})"
            at_key = self._read(s3, item.key)
            in_quarantine = self._read(s3, settings.quarantine_prefix + item.key)
            if item.twist is Twist.DELETED:
                if in_quarantine is not None:
                    result.wrong_place.append(f"{label}: deleted while queued, yet quarantined")
                result.statuses["(deleted)"] += 1
                continue
            latest = sha256(item.latest)
            here = at_key if at_key is not None and sha256(at_key[0]) == latest else None
            there = in_quarantine if in_quarantine is not None and sha256(in_quarantine[0]) == latest else None
            if here is None and there is None:
                result.lost.append(f"{label}: latest content neither at its key nor in quarantine")
                continue
            result.in_both_places += here is not None and there is not None
            status = (here or there or (b"", {}))[1].get(STATUS_TAG)
            if here is not None:
                if not status:
                    result.unlabelled.append(f"{label}: no {STATUS_TAG}")
                    continue
                if status in quarantinable:
                    result.wrong_place.append(f"{label}: {status} but still at its key")
            if there is not None and there[1].get(STATUS_TAG) not in quarantinable:
                result.wrong_place.append(f"{label}: in quarantine with status {there[1].get(STATUS_TAG)}")
            result.statuses[str(status)] += 1
            if status not in (item.expected_status, "ERROR"):
                result.wrong_verdict.append(f"{label}: {status}, expected {item.expected_status}")
        by_key = {item.key: item for item in items}
        for body in self.stack.dlq_bodies():
            result.dead_lettered += 1
            for record in json.loads(body).get("Records") or []:
                item = by_key.get(unquote_plus(record["s3"]["object"]["key"]))
                if item is None or item.twist is Twist.DELETED:
                    result.dead_letter_statuses["deleted"] += 1
                    continue
                found = self._read(s3, item.key) or self._read(s3, settings.quarantine_prefix + item.key)
                result.dead_letter_statuses[str(found[1].get(STATUS_TAG)) if found else "missing"] += 1

    def _count(self, items: list[Planned], result: SoakResult) -> None:
        from moderator.imaging import UnsupportedImageError, prepare

        imagga = self.stack.imagga
        log = imagga.request_log
        result.imagga_faults = Counter(str(r.fault) for r in log if r.fault)
        # Every answer that was not a usable success: an error status, or a fault (a malformed 200 too).
        result.imagga_failed = sum(
            1 for r in log if r.route.startswith(("/v2/categories/", "/v2/uploads")) and (r.fault or r.status != 200)
        )
        paid = Counter(r.sha256 for r in imagga.categorizations())
        result.imagga_paid = sum(paid.values())
        result.s3_faults = Counter(self.s3_faults.injected)
        settings = self.stack.settings()
        for item in items:
            try:
                sent = prepare(item.latest, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels)
            except UnsupportedImageError:
                continue
            twice = paid[sha256(sent.data)] > 1
            result.paid_twice += twice
            if item.twist in (Twist.REUPLOADED, Twist.REDELIVERED, Twist.REDELIVERED_LATE):
                result.duplicates += 1
                result.duplicates_paid_twice += twice
        assert self.stack.mapping is not None
        receives: dict[str, int] = {}
        for invocation in self.stack.mapping.invocations:
            for message_id, count in invocation.receive_counts.items():
                receives[message_id] = max(receives.get(message_id, 0), count)
        result.sqs_redeliveries = sum(count - 1 for count in receives.values())


def quiet_logs() -> None:
    """The function's log lines and the pollers' warnings would bury the summary."""
    import warnings

    from moderator.observability import logger, quiet_for_command_line

    warnings.filterwarnings("ignore", "No application metrics to publish")
    quiet_for_command_line()
    logger.setLevel("CRITICAL")
    for name in ("local-event-source", "imagga-emulator", "werkzeug"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=SoakConfig.objects)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    args = parser.parse_args(argv)
    quiet_logs()
    config = SoakConfig(objects=args.objects, seed=args.seed)
    print(f"soak: {config.objects} objects in waves of {config.wave}, faults on; a few minutes", flush=True)
    result = Soak(config).run()
    for line in result.details():
        print("  " + line)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
