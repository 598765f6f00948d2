"""In-memory stand-ins for the pipeline's ports: S3 storage, the Imagga categorizer, publishers.

They follow the protocols in moderator.pipeline and record every call, so tests can assert
what was (and was not) done.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from PIL import Image

from moderator.approvals import Approval
from moderator.budget import BudgetState, Lease, Quota
from moderator.content_memory import Candidate, Recalled, RejectedImage, RememberedScores
from moderator.errors import ModeratorError, ObjectChangedError, ObjectGoneError
from moderator.fingerprint import parts
from moderator.model import Categorization, KeyVersion, ObjectRef, Outcome, StoredObject


@dataclass
class StoredItem:
    data: bytes
    tags: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None
    #: LastModified as a HEAD reports it: each put is a new upload, a second later.
    last_modified: str = "2024-05-14T09:21:00+00:00"


class FakeStorage:
    """A bucket (or several) in a dict: (bucket, key) -> StoredItem."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredItem] = {}
        self.calls: list[str] = []
        #: Method name -> error raised on every call of it.
        self.failures: dict[str, ModeratorError] = {}
        #: Key -> error raised by every call that touches that key.
        self.failing_keys: dict[str, ModeratorError] = {}
        #: Sizes a HEAD reports instead of the real length (to test size checks without big data).
        self.reported_sizes: dict[tuple[str, str], int] = {}
        #: Method name -> something that happens once, just before the next call of it (a race).
        self.before: dict[str, Callable[[], None]] = {}
        #: (bucket, key, KMS key) of every copy made.
        self.copies: list[tuple[str, str, str | None]] = []
        self._uploads = 0

    def put(
        self, bucket: str, key: str, data: bytes, tags: dict[str, str] | None = None, version_id: str | None = None
    ) -> None:
        self._uploads += 1
        stamp = f"2024-05-14T09:{21 + self._uploads // 60:02d}:{self._uploads % 60:02d}+00:00"
        self.objects[(bucket, key)] = StoredItem(data, dict(tags or {}), version_id, stamp)

    def item(self, bucket: str, key: str) -> StoredItem | None:
        return self.objects.get((bucket, key))

    def _call(self, name: str, key: str) -> None:
        self.calls.append(name)
        if name in self.before:
            self.before.pop(name)()
        if name in self.failures:
            raise self.failures[name]
        if key in self.failing_keys:
            raise self.failing_keys[key]

    def _get(self, bucket: str, key: str) -> StoredItem:
        item = self.objects.get((bucket, key))
        if item is None:
            raise ObjectGoneError(f"s3://{bucket}/{key} does not exist")
        return item

    def head(self, ref: ObjectRef) -> StoredObject:
        self._call("head", ref.key)
        item = self._get(ref.bucket, ref.key)
        size = self.reported_sizes.get((ref.bucket, ref.key), len(item.data))
        etag = hashlib.md5(item.data, usedforsecurity=False).hexdigest()
        return StoredObject(
            ref.bucket,
            ref.key,
            item.version_id or ref.version_id,
            etag,
            size,
            "image/jpeg",
            last_modified=item.last_modified,
        )

    def read(self, obj: StoredObject) -> bytes:
        self._call("read", obj.key)
        return self._get(obj.bucket, obj.key).data

    def digest(self, obj: StoredObject) -> str:
        self._call("digest", obj.key)
        return hashlib.sha256(self._get(obj.bucket, obj.key).data).hexdigest()

    def get_tags(self, obj: StoredObject) -> dict[str, str]:
        self._call("get_tags", obj.key)
        return dict(self._get(obj.bucket, obj.key).tags)

    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None:
        self._call("put_tags", obj.key)
        self._get(obj.bucket, obj.key).tags = dict(tags)

    def copy(
        self,
        obj: StoredObject,
        bucket: str,
        key: str,
        *,
        only_if_absent: bool = False,
        kms_key_id: str | None = None,
    ) -> str | None:
        self._call("copy", obj.key)
        source = self._get(obj.bucket, obj.key)
        if hashlib.md5(source.data, usedforsecurity=False).hexdigest() != obj.etag:
            raise ObjectChangedError(f"s3://{obj.bucket}/{obj.key} changed (CopySourceIfMatch)")
        if only_if_absent and (bucket, key) in self.objects:
            raise ObjectChangedError(f"s3://{bucket}/{key} exists (IfNoneMatch)")
        self.copies.append((bucket, key, kms_key_id))
        self.objects[(bucket, key)] = StoredItem(source.data, dict(source.tags), None)
        return None

    def delete(self, obj: StoredObject) -> bool:
        self._call("delete", obj.key)
        item = self._get(obj.bucket, obj.key)
        if obj.version_id is None and hashlib.md5(item.data, usedforsecurity=False).hexdigest() != obj.etag:
            return False  # IfMatch: a newer object took the key
        del self.objects[(obj.bucket, obj.key)]
        return True

    def versions(self, bucket: str, key: str) -> list[KeyVersion]:
        self._call("versions", key)
        item = self.objects.get((bucket, key))
        return [] if item is None else [KeyVersion(item.version_id or "null", False)]

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        self._call("delete_version", key)
        self.objects.pop((bucket, key), None)


class FakeCategorizer:
    """Answers every image with the same scores, or raises the configured error."""

    def __init__(
        self, scores: dict[str, float] | None = None, *, error: Exception | None = None, categorizer: str = "nsfw_beta"
    ) -> None:
        self.categorizer = categorizer
        self.scores = scores if scores is not None else {"safe": 99.0, "nsfw": 0.5, "underwear": 0.5}
        self.error = error
        self.images: list[tuple[bytes, str]] = []
        self.deadlines: list[Callable[[], float] | None] = []

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Callable[[], float] | None = None
    ) -> Categorization:
        self.images.append((image, content_type))
        self.deadlines.append(deadline)
        if self.error is not None:
            raise self.error
        return Categorization(categorizer=self.categorizer, scores=dict(self.scores), attempts=1)


class ColourCategorizer:
    """Answers by the colour at the centre of the image sent (frames of test animations are plain colours).

    `answers` maps a colour to scores, or to an error to raise; other colours get `default`. Records the
    colour of every image, and the most calls it ever saw at once.
    """

    def __init__(
        self,
        answers: dict[tuple[int, int, int], dict[str, float] | Exception],
        default: dict[str, float] | None = None,
        *,
        delay: float = 0.0,
    ) -> None:
        self.categorizer = "nsfw_beta"
        self.answers = answers
        self.default = default if default is not None else {"safe": 99.0, "nsfw": 0.5, "underwear": 0.5}
        self.delay = delay
        self.colours: list[tuple[int, int, int]] = []
        self.max_at_once = 0
        self._at_once = 0
        self._lock = threading.Lock()

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Callable[[], float] | None = None
    ) -> Categorization:
        with self._lock:
            self._at_once += 1
            self.max_at_once = max(self.max_at_once, self._at_once)
        try:
            if self.delay:
                time.sleep(self.delay)
            colour = self._colour(image)
            with self._lock:
                self.colours.append(colour)
            answer = next((a for c, a in self.answers.items() if _close(c, colour)), self.default)
            if isinstance(answer, Exception):
                raise answer
            return Categorization(categorizer=self.categorizer, scores=dict(answer), attempts=1, latency_ms=100.0)
        finally:
            with self._lock:
                self._at_once -= 1

    @staticmethod
    def _colour(image: bytes) -> tuple[int, int, int]:
        with Image.open(io.BytesIO(image)) as opened:
            rgb = opened.convert("RGB")
            pixel = rgb.getpixel((rgb.width // 2, rgb.height // 2))
        assert isinstance(pixel, tuple)
        return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Outcome] = []

    def publish(self, outcome: Outcome) -> None:
        self.published.append(outcome)


class FakeApprovals:
    """Approvals recorded by (bucket, key, sha256)."""

    def __init__(self, *approvals: Approval) -> None:
        self.approvals = {(a.bucket, a.key, a.sha256): a for a in approvals}

    def find(self, bucket: str, key: str, sha256: str) -> Approval | None:
        return self.approvals.get((bucket, key, sha256))

    def record(self, approval: Approval) -> None:
        self.approvals[(approval.bucket, approval.key, approval.sha256)] = approval

    def revoke(self, bucket: str, key: str, sha256: str) -> None:
        self.approvals.pop((bucket, key, sha256), None)


class RememberingOnce:
    """Idempotency as Powertools does it: a finished verdict is kept per upload and handed back on a
    redelivery (marked duplicate); a verdict that raised leaves nothing behind."""

    def __init__(self) -> None:
        self.done: dict[tuple[str, str, str | None, str, str], dict[str, object]] = {}

    def __call__(self, obj: StoredObject, upload: str, judge: Callable[[StoredObject], Outcome]) -> Outcome:
        identity = (obj.bucket, obj.key, obj.version_id, obj.etag, upload)
        if identity in self.done:
            outcome = Outcome.from_dict(ObjectRef(obj.bucket, obj.key, obj.version_id, obj.etag), self.done[identity])
            outcome.duplicate = True
            return outcome
        outcome = judge(obj)
        self.done[identity] = outcome.to_dict()
        return outcome


class InMemoryBudgetStore:
    """The shared budget's record in memory, with the same conditional writes as the DynamoDB one.

    `latency`: seconds each read takes after taking its copy, like a network round trip, so that
    other instances can write in between (the race the conditional writes must settle).
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self.state = BudgetState()
        self.writes = 0
        self.conflicts = 0

    def read(self) -> BudgetState:
        with self._lock:
            state = self.state
        if self.latency:
            time.sleep(self.latency)
        return state

    def replace(self, holders: Mapping[str, Lease], waiting: Mapping[str, float], *, version: int) -> bool:
        with self._lock:
            if self.state.version != version:
                self.conflicts += 1
                return False
            self.state = BudgetState(version + 1, dict(holders), dict(waiting), self.state.quota)
            self.writes += 1
            return True

    def release(self, holder: str, quota: Quota | None) -> None:
        with self._lock:
            current = self.state
            holders = {name: lease for name, lease in current.holders.items() if name != holder}
            waiting = {name: until for name, until in current.waiting.items() if name != holder}
            self.state = BudgetState(current.version + 1, holders, waiting, quota or current.quota)
            self.writes += 1

    def set_quota(self, quota: Quota) -> None:
        with self._lock:
            current = self.state
            self.state = BudgetState(current.version + 1, current.holders, current.waiting, quota)


class FakeMemory:
    """The content memory in dicts: scores by key, rejected images by SHA-256, an exact-part index.

    Candidates are found the way the DynamoDB adapter finds them: by an exact 16-bit part.
    """

    def __init__(self) -> None:
        self.scores: dict[str, RememberedScores] = {}
        self.rejections: dict[str, RejectedImage] = {}
        self.index: dict[tuple[int, int], set[tuple[str, int]]] = {}
        self.calls: list[str] = []
        #: Set to make every read fail as an unreachable table would (the adapter then answers "nothing").
        self.unreadable = False

    def recall(self, sha256: str, scores_key: str | None) -> Recalled:
        self.calls.append("recall")
        if self.unreadable:
            return Recalled()
        return Recalled(self.scores.get(scores_key) if scores_key else None, self.rejections.get(sha256))

    def rejected(self, sha256: str, *, with_preview: bool = True) -> RejectedImage | None:
        self.calls.append("rejected")
        return None if self.unreadable else self.rejections.get(sha256)

    def near(self, fingerprints: Sequence[int]) -> list[Candidate]:
        self.calls.append("near")
        if self.unreadable:
            return []
        found = {entry for value in fingerprints for entry in self._entries(value)}
        return [Candidate(sha256, value) for sha256, value in sorted(found)]

    def _entries(self, value: int) -> set[tuple[str, int]]:
        return {entry for slot in enumerate(parts(value)) for entry in self.index.get(slot, set())}

    def remember_scores(self, scores: RememberedScores) -> None:
        self.calls.append("remember_scores")
        self.scores[scores.key] = scores

    def remember_rejected(self, image: RejectedImage, index: Iterable[int]) -> None:
        self.calls.append("remember_rejected")
        self.rejections[image.sha256] = image
        for value in index:
            for slot in enumerate(parts(value)):
                self.index.setdefault(slot, set()).add((image.sha256, value))
