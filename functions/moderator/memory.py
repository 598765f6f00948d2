"""Content memory in DynamoDB: Imagga's scores by content, and the images humans rejected.

The items live in the decisions table (partition key `id`, TTL attribute `expires_at`), beside the
verdicts and human decisions they come from: the function, the command line and the review page
already reach that table, and a human's rejection is kept as long as the ledger keeps decisions.

- `scores#<sha256>#<categorizer>#<preparation>` (kind `scores`): Imagga's scores per frame sent,
  `obtained_at`, the frame count and the frames' perceptual hashes; kept `VERDICT_MEMORY_DAYS`.
- `rejected#<sha256>` (kind `rejected`): where the image was, who rejected it and when, its
  perceptual hashes and a small JPEG `preview`; kept `DECISIONS_TTL_DAYS`.
- `near#<part>#<4 hex digits>` (kind `near-index`): one item per 16-bit part of a hash
  (fingerprint.py), whose string set `entries` holds `<sha256>:<hash>` for every rejected image
  indexed under that part. A look-up reads the four items of a hash's parts in one BatchGetItem and
  compares the candidates bit by bit: one request, whatever the number of rejected images.

Who writes what: the function writes `scores#` items only (its role allows no other leading key),
the operators' review tools (`quarantine purge`, the review page), with their own credentials, write
`rejected#` and `near#` items. Reads for a moderation fail open: when the table cannot be read the
image is moderated as if it were new (Imagga is asked), and the failure is logged and counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .content_memory import Candidate, FrameScores, Recalled, RejectedImage, RememberedScores
from .dynamodb_errors import is_conditional_check_failure, table_error
from .errors import StorageError
from .fingerprint import from_hex, parts, to_hex
from .observability import logger, record_error
from .times import epoch_seconds

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBContentMemory", "RejectedImage", "near_index_id", "rejected_id", "scores_id"]

DAY = 86_400
#: BatchGetItem reads at most 100 keys per request.
BATCH_KEYS = 100
#: Keys DynamoDB left unprocessed (throttling) are asked again this many times.
BATCH_RETRIES = 3
#: Index items written at once when a rejected image is remembered.
INDEX_WRITERS = 8
#: What a moderation reads of a rejected item: everything but its preview.
_REJECTED_FIELDS = ("id", "kind", "sha256", "location", "rejected_at", "rejected_by", "fingerprints", "expires_at")
_SCORES_FIELDS = ("categorizer", "preparation", "obtained_at", "frame_count", "frames")


def scores_id(key: str) -> str:
    return f"scores#{key}"


def rejected_id(sha256: str) -> str:
    return f"rejected#{sha256}"


def near_index_id(part: int, value: int) -> str:
    return f"near#{part}#{value:04x}"


class DynamoDBContentMemory:
    """The memory (see content_memory.py) on the decisions table; `rejected()` is what the review page reads."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        scores_days: int = 30,
        rejection_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._scores_seconds = scores_days * DAY
        self._rejection_seconds = rejection_days * DAY
        self._clock = clock

    # --- reads for a moderation (fail open) ---------------------------------------------------

    def recall(self, sha256: str, scores_key: str | None) -> Recalled:
        """The rejection of these bytes and their remembered scores, in one request."""
        ids = [rejected_id(sha256)] + ([scores_id(scores_key)] if scores_key else [])
        fields = _REJECTED_FIELDS + _SCORES_FIELDS
        try:
            items = self._batch_get(ids, fields)
        except (ClientError, BotoCoreError, StorageError) as exc:
            self._unavailable(exc)
            return Recalled()
        rejected = items.get(rejected_id(sha256))
        scores = items.get(scores_id(scores_key)) if scores_key else None
        return Recalled(
            scores=self._scores(scores) if scores else None,
            rejected=self._rejected(rejected) if rejected else None,
        )

    def near(self, fingerprints: Sequence[int]) -> list[Candidate]:
        """Every indexed (rejected image, hash) sharing a 16-bit part with one of `fingerprints`."""
        ids = sorted(
            {near_index_id(index, value) for found in fingerprints for index, value in enumerate(parts(found))}
        )
        if not ids:
            return []
        try:
            items = self._batch_get(ids, ("id", "entries", "expires_at"))
        except (ClientError, BotoCoreError, StorageError) as exc:
            self._unavailable(exc)
            return []
        candidates = []
        for item in items.values():
            for entry in item.get("entries", {}).get("SS", []):
                sha256, _, fingerprint = entry.partition(":")
                try:
                    candidates.append(Candidate(sha256, from_hex(fingerprint)))
                except ValueError:
                    continue  # not written by remember_rejected: ignore it
        return candidates

    # --- the rejected image: the review page's read, and the pipeline's check of a match -------

    def rejected(self, sha256: str, *, with_preview: bool = True) -> RejectedImage | None:
        """The rejected image with these bytes, or None (never rejected, or forgotten). Raises StorageError."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"id": {"S": rejected_id(sha256)}},
            "ConsistentRead": True,
        }
        if not with_preview:
            params.update(_projection(_REJECTED_FIELDS))
        try:
            response = self._client.get_item(**params)
        except (ClientError, BotoCoreError) as exc:
            doing = f"reading the rejected image {sha256} from {self._table}"
            raise table_error(exc, denied=doing, failed=doing) from exc
        item = response.get("Item")
        return self._rejected(item) if item else None

    # --- writes -------------------------------------------------------------------------------

    def remember_scores(self, scores: RememberedScores) -> None:
        """Keep Imagga's answer for these bytes. A failure is logged and counted, never raised."""
        item: dict[str, Any] = {
            "id": {"S": scores_id(scores.key)},
            "kind": {"S": "scores"},
            "sha256": {"S": scores.sha256},
            "categorizer": {"S": scores.categorizer},
            "preparation": {"S": scores.preparation},
            "obtained_at": {"S": scores.obtained_at},
            "frames": {
                "L": [
                    {"M": {"frame": {"N": str(frame.frame)}, "scores": {"M": _numbers(frame.scores)}}}
                    for frame in scores.frames
                ]
            },
            "expires_at": {"N": str(int((epoch_seconds(scores.obtained_at) or self._clock()) + self._scores_seconds))},
        }
        if scores.frame_count is not None:
            item["frame_count"] = {"N": str(scores.frame_count)}
        if scores.fingerprints:
            item["fingerprints"] = {"L": [{"S": to_hex(value)} for value in scores.fingerprints]}
        try:
            self._client.put_item(TableName=self._table, Item=item)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            logger.warning("scores not remembered", extra={"sha256": scores.sha256, "error": str(exc)})
            record_error("memory-write-failed")

    def remember_rejected(self, image: RejectedImage, index: Iterable[int]) -> None:
        """Keep a rejected image and index it under every part of every hash given. Raises StorageError.

        The record first, then the index: an index entry always has its record to confirm a match.
        """
        expires = str(int((epoch_seconds(image.rejected_at) or self._clock()) + self._rejection_seconds))
        item: dict[str, Any] = {
            "id": {"S": rejected_id(image.sha256)},
            "kind": {"S": "rejected"},
            "sha256": {"S": image.sha256},
            "location": {"S": image.location},
            "rejected_at": {"S": image.rejected_at},
            "rejected_by": {"S": image.rejected_by},
            "expires_at": {"N": expires},
        }
        if image.preview:
            item["preview"] = {"B": image.preview}
        if image.fingerprints:
            item["fingerprints"] = {"L": [{"S": to_hex(value)} for value in image.fingerprints]}
        entries: dict[str, set[str]] = {}
        for fingerprint in index:
            for part, value in enumerate(parts(fingerprint)):
                entries.setdefault(near_index_id(part, value), set()).add(f"{image.sha256}:{to_hex(fingerprint)}")
        try:
            self._client.put_item(TableName=self._table, Item=item)
            if entries:
                with ThreadPoolExecutor(max_workers=min(INDEX_WRITERS, len(entries))) as pool:
                    list(pool.map(lambda pair: self._add_to_index(pair[0], pair[1], expires), entries.items()))
        except (ClientError, BotoCoreError) as exc:
            doing = f"remembering the rejected image in {self._table}"
            raise table_error(exc, denied=doing, failed=doing) from exc

    def _add_to_index(self, item_id: str, entries: set[str], expires: str) -> None:
        # ADD to a string set is atomic and creates the item: concurrent rejections never lose an entry.
        # The item lives as long as its latest entry: its expiry only ever moves later, so a rejection
        # kept for fewer days (another tool's DECISIONS_TTL_DAYS) cannot end others' entries early.
        # Entries of records already expired are ignored by the look-up.
        key: dict[str, Any] = {"id": {"S": item_id}}
        values: dict[str, Any] = {":entries": {"SS": sorted(entries)}, ":kind": {"S": "near-index"}}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="ADD entries :entries SET kind = :kind, expires_at = :expires",
                ConditionExpression="attribute_not_exists(expires_at) OR expires_at <= :expires",
                ExpressionAttributeValues={**values, ":expires": {"N": expires}},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise
            # The item already lives longer: add the entries, keep its expiry.
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="ADD entries :entries SET kind = :kind",
                ExpressionAttributeValues=values,
            )

    # --- helpers ------------------------------------------------------------------------------

    def _batch_get(self, ids: list[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Items by id, strongly consistent, in requests of 100 keys; unprocessed keys are asked again."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_KEYS):
            wanted: dict[str, Any] = {
                self._table: {
                    "Keys": [{"id": {"S": item_id}} for item_id in ids[start : start + BATCH_KEYS]],
                    "ConsistentRead": True,
                    **_projection(fields),
                }
            }
            for attempt in range(BATCH_RETRIES + 1):
                response = self._client.batch_get_item(RequestItems=wanted)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["id"]["S"]] = item
                wanted = dict(response.get("UnprocessedKeys") or {})
                if not wanted:
                    break
                if attempt == BATCH_RETRIES:
                    raise StorageError(f"{self._table}: keys left unprocessed after {BATCH_RETRIES} retries")
                time.sleep(0.05 * 2**attempt)
        return found

    def _scores(self, item: dict[str, Any]) -> RememberedScores | None:
        obtained_at = item.get("obtained_at", {}).get("S", "")
        obtained = epoch_seconds(obtained_at)
        now = self._clock()
        # DynamoDB's TTL removes items only eventually; a shorter VERDICT_MEMORY_DAYS applies at once.
        if obtained is None or now >= obtained + self._scores_seconds or _expired(item, now):
            return None
        sha256, categorizer, preparation = _split_scores_id(item["id"]["S"])
        frames = tuple(
            FrameScores(
                int(entry["M"]["frame"]["N"]),
                {label: float(value["N"]) for label, value in entry["M"]["scores"]["M"].items()},
            )
            for entry in item.get("frames", {}).get("L", [])
        )
        count = item.get("frame_count", {}).get("N")
        return RememberedScores(
            sha256=sha256,
            categorizer=categorizer,
            preparation=preparation,
            obtained_at=obtained_at,
            frames=frames,
            frame_count=int(count) if count is not None else None,
            fingerprints=_hashes(item),
        )

    def _rejected(self, item: dict[str, Any]) -> RejectedImage | None:
        if _expired(item, self._clock()):
            return None
        preview = item.get("preview", {}).get("B")
        return RejectedImage(
            sha256=item["sha256"]["S"],
            location=item.get("location", {}).get("S", ""),
            rejected_at=item.get("rejected_at", {}).get("S", ""),
            rejected_by=item.get("rejected_by", {}).get("S", ""),
            preview=bytes(preview) if preview else None,
            fingerprints=_hashes(item),
        )

    def _unavailable(self, exc: Exception) -> None:
        logger.warning(
            "content memory unreadable: moderating as if the image were new",
            extra={"table": self._table, "error": str(exc)},
        )
        record_error("memory-unavailable")


def _projection(fields: Sequence[str]) -> dict[str, Any]:
    """A projection naming every attribute through a placeholder (`location` is a reserved word)."""
    names = {f"#a{number}": name for number, name in enumerate(fields)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def _split_scores_id(item_id: str) -> tuple[str, str, str]:
    _, sha256, categorizer, preparation = item_id.split("#", 3)
    return sha256, categorizer, preparation


def _hashes(item: dict[str, Any]) -> tuple[int, ...]:
    found = []
    for entry in item.get("fingerprints", {}).get("L", []):
        try:
            found.append(from_hex(entry["S"]))
        except (KeyError, ValueError):
            continue
    return tuple(found)


def _expired(item: dict[str, Any], now: float) -> bool:
    expires = item.get("expires_at", {}).get("N")
    return expires is not None and now >= float(expires)


def _numbers(scores: dict[str, float]) -> dict[str, Any]:
    return {label: {"N": str(Decimal(str(value)))} for label, value in scores.items()}
