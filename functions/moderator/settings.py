"""One typed settings object, read from the environment once per container and validated at once.

Every invalid or missing value is collected and reported together in one SettingsError, so a
misconfigured deployment fails its first invocation with the whole list, not one problem a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import SettingsError
from .model import Status
from .policy import CATEGORIZER_LABELS, Thresholds

DEFAULT_ENDPOINT = "https://api.imagga.com/v2"
MIB = 1024 * 1024
UPLOAD_MODES = ("direct", "upload")
MODES = ("enforce", "monitor")
#: CONTENT_MEMORY: remember Imagga's scores and human rejections; only the rejections; nothing.
MEMORY_ON, MEMORY_REJECTIONS, MEMORY_OFF = "on", "rejections", "off"
MEMORY_MODES = (MEMORY_ON, MEMORY_REJECTIONS, MEMORY_OFF)
#: Each frame is one Imagga call: more than this would let one upload hold the plan's few slots for minutes.
MAX_ANIMATION_FRAMES = 50
QUARANTINABLE = (Status.REVIEW, Status.UNSAFE, Status.UNSUPPORTED, Status.ERROR)
#: The template's pattern for KMS key parameters.
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+")

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    imagga_endpoint: str = DEFAULT_ENDPOINT
    imagga_secret_arn: str | None = None
    imagga_api_key: str | None = field(default=None, repr=False)
    imagga_api_secret: str | None = field(default=None, repr=False)
    categorizer: str = "nsfw_beta"
    upload_mode: str = "direct"
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    max_attempts: int = 4
    thresholds: Thresholds = field(default_factory=Thresholds)
    mode: str = "enforce"
    quarantine_statuses: frozenset[Status] = frozenset({Status.UNSAFE})
    quarantine_bucket: str | None = None
    #: KMS key for quarantined copies (a quarantine bucket's own key); None keeps the source object's key.
    quarantine_kms_key_arn: str | None = None
    quarantine_prefix: str = "quarantine/"
    max_image_bytes: int = 25 * MIB
    max_image_pixels: int = 100_000_000
    resize_short_side: int = 600
    #: Frames of an animation (or pages, or images of a HEIF) sent to Imagga, one call each: the
    #: first, the rest evenly spaced to the last. 1 checks the first frame only.
    animation_frames: int = 5
    max_receive_count: int = 3
    idempotency_table: str | None = None
    approvals_table: str | None = None
    decisions_table: str | None = None
    decisions_ttl_days: int = 90
    #: How long a human approval lets the same bytes at the same key skip moderation (see approvals.py).
    approval_ttl_days: int = 30
    idempotency_expiry_seconds: int = 86_400
    #: Content memory (kept in the decisions table): "on" reuses Imagga's scores for bytes already
    #: categorized and quarantines images a human rejected (and near-copies of them); "rejections"
    #: only the latter; "off" neither.
    content_memory: str = MEMORY_ON
    #: How long Imagga's scores for some bytes are reused.
    verdict_memory_days: int = 30
    secret_max_age_seconds: int = 300
    event_bus_name: str | None = None
    alert_topic_arn: str | None = None
    #: The deployment's one Imagga budget: concurrent calls allowed, live and backfill together.
    imagga_max_concurrency: int = 2
    #: DynamoDB table holding the budget's slots and the last Monthly-Limit-Remaining seen (budget.py).
    #: Without it each instance limits only itself (the command line's local mode, single-instance tests).
    budget_table: str | None = None
    #: Where backfill work waits: S3 Batch Operations tasks are sent there rather than moderated at once.
    backfill_queue_url: str | None = None
    #: Backfill work pauses while Imagga's Monthly-Limit-Remaining is below this; live uploads go on.
    backfill_quota_reserve: int = 1000

    @property
    def enforce(self) -> bool:
        return self.mode == "enforce"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_credentials: bool = True) -> Settings:
        """Build and validate; raise SettingsError naming every problem.

        `require_credentials=False` serves operator commands that never call Imagga.
        """
        reader = _Reader(env)
        defaults = cls()
        settings = cls(
            imagga_endpoint=reader.text("IMAGGA_API_ENDPOINT", defaults.imagga_endpoint).rstrip("/"),
            imagga_secret_arn=reader.optional("IMAGGA_SECRET_ARN"),
            imagga_api_key=reader.optional("IMAGGA_API_KEY"),
            imagga_api_secret=reader.optional("IMAGGA_API_SECRET"),
            categorizer=reader.choice("IMAGGA_CATEGORIZER", defaults.categorizer, tuple(CATEGORIZER_LABELS)),
            upload_mode=reader.choice("IMAGGA_UPLOAD_MODE", defaults.upload_mode, UPLOAD_MODES),
            connect_timeout=reader.number("IMAGGA_CONNECT_TIMEOUT", defaults.connect_timeout, float, 0.1, 60),
            read_timeout=reader.number("IMAGGA_READ_TIMEOUT", defaults.read_timeout, float, 0.1, 900),
            max_attempts=reader.number("IMAGGA_MAX_ATTEMPTS", defaults.max_attempts, int, 1, 10),
            thresholds=Thresholds(
                unsafe=reader.number("UNSAFE_THRESHOLD", defaults.thresholds.unsafe, float, 0, 100),
                review=reader.number("REVIEW_THRESHOLD", defaults.thresholds.review, float, 0, 100),
            ),
            mode=reader.choice("MODE", defaults.mode, MODES),
            quarantine_statuses=reader.statuses("QUARANTINE_STATUSES", defaults.quarantine_statuses),
            quarantine_bucket=reader.optional("QUARANTINE_BUCKET"),
            quarantine_kms_key_arn=reader.kms_key("QUARANTINE_KMS_KEY_ARN"),
            quarantine_prefix=reader.prefix("QUARANTINE_PREFIX", defaults.quarantine_prefix),
            max_image_bytes=reader.number("MAX_IMAGE_BYTES", defaults.max_image_bytes, int, 1, 5 * 1024 * MIB),
            max_image_pixels=reader.number("MAX_IMAGE_PIXELS", defaults.max_image_pixels, int, 1, 2_000_000_000),
            resize_short_side=reader.resize_side("RESIZE_SHORT_SIDE", defaults.resize_short_side),
            animation_frames=reader.number("ANIMATION_FRAMES", defaults.animation_frames, int, 1, MAX_ANIMATION_FRAMES),
            max_receive_count=reader.number("MAX_RECEIVE_COUNT", defaults.max_receive_count, int, 1, 1000),
            idempotency_table=reader.optional("IDEMPOTENCY_TABLE"),
            # Approvals live in the decisions ledger, else the idempotency table, unless a table is named.
            approvals_table=reader.optional("APPROVALS_TABLE")
            or reader.optional("DECISIONS_TABLE")
            or reader.optional("IDEMPOTENCY_TABLE"),
            decisions_table=reader.optional("DECISIONS_TABLE"),
            decisions_ttl_days=reader.number("DECISIONS_TTL_DAYS", defaults.decisions_ttl_days, int, 1, 3650),
            approval_ttl_days=reader.number("APPROVAL_TTL_DAYS", defaults.approval_ttl_days, int, 1, 3650),
            idempotency_expiry_seconds=reader.number(
                "IDEMPOTENCY_EXPIRY_SECONDS", defaults.idempotency_expiry_seconds, int, 60, 30 * 86_400
            ),
            content_memory=reader.choice("CONTENT_MEMORY", defaults.content_memory, MEMORY_MODES),
            verdict_memory_days=reader.number("VERDICT_MEMORY_DAYS", defaults.verdict_memory_days, int, 1, 3650),
            secret_max_age_seconds=reader.number(
                "SECRET_MAX_AGE_SECONDS", defaults.secret_max_age_seconds, int, 0, 86_400
            ),
            event_bus_name=reader.optional("EVENT_BUS_NAME"),
            alert_topic_arn=reader.optional("ALERT_TOPIC_ARN"),
            imagga_max_concurrency=reader.number(
                "IMAGGA_MAX_CONCURRENCY", defaults.imagga_max_concurrency, int, 1, 1000
            ),
            budget_table=reader.optional("BUDGET_TABLE"),
            backfill_queue_url=reader.optional("BACKFILL_QUEUE_URL"),
            backfill_quota_reserve=reader.number(
                "BACKFILL_QUOTA_RESERVE", defaults.backfill_quota_reserve, int, 0, 1_000_000_000
            ),
        )
        has_credentials = settings.imagga_secret_arn or (settings.imagga_api_key and settings.imagga_api_secret)
        if require_credentials and not has_credentials:
            reader.problems.append(
                "Imagga credentials: set IMAGGA_SECRET_ARN, or both IMAGGA_API_KEY and IMAGGA_API_SECRET"
            )
        if not settings.imagga_endpoint.startswith(("https://", "http://")):
            reader.problems.append("IMAGGA_API_ENDPOINT: must start with https:// (or http:// for a local server)")
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


class _Reader:
    """Reads typed values and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def kms_key(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not KMS_KEY_ARN.fullmatch(value):
            self.problems.append(f"{name}: {value!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")
            return None
        return value

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in allowed:
            self.problems.append(f"{name}: {value!r} is not one of {', '.join(allowed)}")
            return default
        return value

    def number(self, name: str, default: T, kind: Callable[[str], T], low: float, high: float) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name}: {raw!r} is not a valid {kind.__name__}")
            return default
        if not low <= value <= high:  # type: ignore[operator]
            self.problems.append(f"{name}: {raw} is outside {low:g}..{high:g}")
            return default
        return value

    def resize_side(self, name: str, default: int) -> int:
        value = self.number(name, default, int, 0, 10_000)
        if 0 < value < 32:
            self.problems.append(f"{name}: {value} is too small (use 0 to send originals, or 32 and more)")
            return default
        return value

    def prefix(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if value.startswith("/") or not value.endswith("/"):
            self.problems.append(f"{name}: {value!r} must be a non-empty prefix ending in '/' (e.g. quarantine/)")
            return default
        return value

    def statuses(self, name: str, default: frozenset[Status]) -> frozenset[Status]:
        raw = self.optional(name)
        if raw is None:
            return default
        chosen: set[Status] = set()
        for part in (p.strip().upper() for p in raw.split(",")):
            if not part:
                continue
            if part not in {str(s) for s in QUARANTINABLE}:
                allowed = ", ".join(str(s) for s in QUARANTINABLE)
                self.problems.append(f"{name}: {part!r} is not one of {allowed}")
                continue
            chosen.add(Status(part))
        return frozenset(chosen)
