"""S3, through an injected boto3 client: the only module that calls S3 for the function.

Every call names the exact object that was scanned: its VersionId on versioned buckets, its
ETag as a precondition elsewhere. AWS failures become the package's error types here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.exceptions import S3CopyFailedError

from .errors import ObjectChangedError, ObjectGoneError, StorageAccessError, StorageError
from .model import KeyVersion, ObjectRef, StoredObject
from .observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3's limit for one CopyObject; larger objects are copied in parts (UploadPartCopy).
SINGLE_COPY_LIMIT = 5 * 1024**3
#: Parts of a multipart copy: large enough that 5 TB stays under S3's 10,000 parts once s3transfer
#: adjusts it, small enough that a part fails and retries cheaply.
COPY_PART_SIZE = 512 * 1024**2

GONE_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
CHANGED_CODES = frozenset({"412", "PreconditionFailed"})
ACCESS_CODES = frozenset({"403", "AccessDenied", "NoSuchBucket", "AllAccessDisabled", "InvalidObjectState"})


class S3Storage:
    def __init__(
        self, client: S3Client, *, multipart_threshold: int = SINGLE_COPY_LIMIT, part_size: int = COPY_PART_SIZE
    ) -> None:
        self._client = client
        # Objects larger than this are copied in parts; tests lower it to see the path with small objects.
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size

    def head(self, ref: ObjectRef) -> StoredObject:
        """Pin the object: on a versioned bucket the answer's VersionId names what we scan."""
        with _translated(ref):
            head = self._client.head_object(**_locate(ref.bucket, ref.key, ref.version_id))
        return StoredObject(
            bucket=ref.bucket,
            key=ref.key,
            version_id=_version(head.get("VersionId")) or ref.version_id,
            etag=str(head.get("ETag", "")).strip('"'),
            size=int(head.get("ContentLength", 0)),
            content_type=head.get("ContentType"),
            sse_kms_key_id=head.get("SSEKMSKeyId") if head.get("ServerSideEncryption") == "aws:kms" else None,
            last_modified=_iso(head.get("LastModified")),
        )

    def read(self, obj: StoredObject) -> bytes:
        params: dict[str, Any] = _locate(obj.bucket, obj.key, obj.version_id)
        if obj.version_id is None:
            params["IfMatch"] = f'"{obj.etag}"'
        with _translated(obj):
            response = self._client.get_object(**params)
            data: bytes = response["Body"].read()
        return data

    def digest(self, obj: StoredObject) -> str:
        """SHA-256 of exactly this object's bytes, streamed (an object may be far larger than memory)."""
        params: dict[str, Any] = _locate(obj.bucket, obj.key, obj.version_id)
        if obj.version_id is None:
            params["IfMatch"] = f'"{obj.etag}"'
        sha = hashlib.sha256()
        with _translated(obj):
            body = self._client.get_object(**params)["Body"]
            for chunk in body.iter_chunks(1024 * 1024):
                sha.update(chunk)
        return sha.hexdigest()

    def get_tags(self, obj: StoredObject) -> dict[str, str]:
        with _translated(obj):
            response = self._client.get_object_tagging(**_locate(obj.bucket, obj.key, obj.version_id))
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None:
        """Replace the whole tag set (S3 has no partial update): callers merge first."""
        location = _locate(obj.bucket, obj.key, obj.version_id)
        with _translated(obj):
            if tags:
                tag_set = [{"Key": key, "Value": value} for key, value in tags.items()]
                self._client.put_object_tagging(**location, Tagging={"TagSet": tag_set})  # type: ignore[typeddict-item]
            else:
                self._client.delete_object_tagging(**location)

    def copy(
        self, obj: StoredObject, bucket: str, key: str, *, only_if_absent: bool = False, kms_key_id: str | None = None
    ) -> str | None:
        """Copy the scanned version with its metadata, Content-Type, tags and KMS key; return the new version.

        `only_if_absent` refuses to replace an object already at the destination (IfNoneMatch).
        `kms_key_id` encrypts the copy under that key instead of the source's (a quarantine bucket
        with a key of its own).
        """
        source: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            source["VersionId"] = obj.version_id
        params: dict[str, Any] = {
            # The ETag pins the bytes scanned: an overwrite since (unversioned buckets) fails with 412.
            "CopySourceIfMatch": f'"{obj.etag}"',
            "MetadataDirective": "COPY",
            "TaggingDirective": "COPY",
        }
        key_id = kms_key_id or obj.sse_kms_key_id
        if key_id:
            # Without this the copy would fall back to the destination bucket's default encryption.
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = key_id
        with _translated(obj):
            if obj.size > self._multipart_threshold:
                return self._copy_in_parts(source, bucket, key, params, only_if_absent)
            if only_if_absent:
                params["IfNoneMatch"] = "*"
            response = self._client.copy_object(Bucket=bucket, Key=key, CopySource=source, **params)  # type: ignore[arg-type]
        return _version(response.get("VersionId"))

    def _copy_in_parts(
        self, source: dict[str, str], bucket: str, key: str, params: dict[str, Any], only_if_absent: bool
    ) -> str | None:
        """Over 5 GiB CopyObject is refused: boto3's managed copy (UploadPartCopy), with the same conditions.

        s3transfer carries CopySourceIfMatch to every part, the metadata and Content-Type from the
        source's HEAD, and the tags (TaggingDirective COPY) after the upload completes. It has no
        IfNoneMatch, so that condition is added to the one CompleteMultipartUpload of this copy.
        """
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self._multipart_threshold, multipart_chunksize=self._part_size, use_threads=False
        )
        events = self._client.meta.events
        hook_id = f"copy-if-absent-{id(params)}"

        def if_absent(params: dict[str, Any], **_: Any) -> None:
            if params.get("Bucket") == bucket and params.get("Key") == key:
                params["IfNoneMatch"] = "*"

        if only_if_absent:
            events.register("before-parameter-build.s3.CompleteMultipartUpload", if_absent, unique_id=hook_id)
        try:
            self._client.copy(source, bucket, key, ExtraArgs=params, Config=config)  # type: ignore[arg-type]
        except S3CopyFailedError as exc:
            # s3transfer's word for a part whose CopySourceIfMatch failed: the source changed.
            raise ObjectChangedError(f"copy of s3://{source['Bucket']}/{source['Key']} refused: {exc}") from exc
        finally:
            if only_if_absent:
                events.unregister("before-parameter-build.s3.CompleteMultipartUpload", unique_id=hook_id)
        # The managed copy does not return the new version: the destination's newest is this copy.
        return _version(self._client.head_object(Bucket=bucket, Key=key).get("VersionId"))

    def delete(self, obj: StoredObject) -> bool:
        """Delete exactly what was scanned. False when a newer object took the key (it has its own event)."""
        params: dict[str, Any] = _locate(obj.bucket, obj.key, obj.version_id)
        if obj.version_id is None:
            # Unversioned: the key may have been overwritten since the scan; never delete the newcomer.
            params["IfMatch"] = f'"{obj.etag}"'
        try:
            with _translated(obj):
                try:
                    self._client.delete_object(**params)
                except ClientError as exc:
                    if "IfMatch" in params and _not_implemented(exc):
                        return self._delete_if_etag_unchanged(obj)
                    raise
        except ObjectChangedError:
            return False
        return True

    def _delete_if_etag_unchanged(self, obj: StoredObject) -> bool:
        """For S3-compatible stores without conditional deletes (501 to DeleteObject's IfMatch): HEAD, compare, delete.

        What remains is a window of one round trip: an upload landing between the HEAD and the
        DELETE is deleted with it, and on an unversioned bucket its bytes are lost. The conditional
        delete closes that window where the store supports it, so it is always tried first.
        """
        logger.warning(
            "conditional delete not supported by this S3 endpoint: comparing the ETag with a HEAD, then deleting",
            extra={"bucket": obj.bucket, "key": obj.key, "etag": obj.etag},
        )
        current = self.head(ObjectRef(obj.bucket, obj.key))
        if current.etag != obj.etag:
            return False
        with _translated(obj):
            self._client.delete_object(Bucket=obj.bucket, Key=obj.key)
        return True

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[Listed]:
        """Every current object under a prefix, one page (1,000 keys) in memory at a time."""
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated(ObjectRef(bucket, prefix)):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield Listed(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=str(item.get("ETag", "")).strip('"'),
                        last_modified=item["LastModified"],
                    )

    def versions(self, bucket: str, key: str) -> list[KeyVersion]:
        """Every version and delete marker of exactly this key (an unversioned object is one version, "null")."""
        found: list[KeyVersion] = []
        paginator = self._client.get_paginator("list_object_versions")
        with _translated(ObjectRef(bucket, key)):
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                entries: list[tuple[Any, bool]] = [(item, False) for item in page.get("Versions", [])]
                entries += [(item, True) for item in page.get("DeleteMarkers", [])]
                for item, marker in entries:
                    if item["Key"] == key:
                        found.append(KeyVersion(str(item.get("VersionId") or "null"), marker))
        return found

    def list_versions(self, bucket: str, prefix: str = "") -> Iterator[Listed]:
        """Every object version (not delete markers) under a prefix, one page at a time."""
        paginator = self._client.get_paginator("list_object_versions")
        with _translated(ObjectRef(bucket, prefix)):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Versions", []):
                    yield Listed(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=str(item.get("ETag", "")).strip('"'),
                        last_modified=item["LastModified"],
                        version_id=_version(item.get("VersionId")),
                    )

    def delete_version(self, bucket: str, key: str, version_id: str) -> bool:
        """Delete one version for good. False when it was already gone (say, another purge deleted it first)."""
        params = _locate(bucket, key, None if version_id == "null" else version_id)
        if version_id == "null":
            params["VersionId"] = "null"
        try:
            with _translated(ObjectRef(bucket, key, version_id)):
                try:
                    self._client.delete_object(**params)
                except ClientError as exc:
                    # S3 answers 400 InvalidArgument ("Invalid version id specified") for a version that
                    # was deleted a moment ago (moto answers 204). Only a listing tells that apart from a
                    # version id that is really malformed.
                    listed = (
                        {v.version_id for v in self.versions(bucket, key)}
                        if _error_code(exc) == "InvalidArgument"
                        else None
                    )
                    if listed is not None and version_id not in listed:
                        return False
                    raise
        except ObjectGoneError:
            return False
        return True


@dataclass(frozen=True)
class Listed:
    key: str
    size: int
    etag: str
    last_modified: datetime
    #: Set by list_versions (None on an unversioned bucket).
    version_id: str | None = None


def _locate(bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    return params


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _not_implemented(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _error_code(exc) == "NotImplemented" or status == 501


def _version(value: object) -> str | None:
    return None if value in (None, "", "null") else str(value)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


@contextmanager
def _translated(ref: ObjectRef | StoredObject) -> Iterator[None]:
    """botocore failures become ObjectGone / ObjectChanged / StorageAccess / Storage errors."""
    where = f"s3://{ref.bucket}/{ref.key}" + (f"?versionId={ref.version_id}" if ref.version_id else "")
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        operation = exc.operation_name
        if code == "NoSuchBucket":
            raise StorageAccessError(f"{operation}: the bucket {ref.bucket} does not exist") from exc
        if code in GONE_CODES or status == "404":
            raise ObjectGoneError(f"{operation}: {where} no longer exists ({code})") from exc
        if code == "MethodNotAllowed" or status == "405":
            # S3's answer for a delete marker: tagging the key whose newest entry is one, or naming one
            # by version id. There is no object there to moderate.
            raise ObjectGoneError(f"{operation}: {where} is a delete marker ({code or status})") from exc
        if code in CHANGED_CODES or status == "412":
            raise ObjectChangedError(f"{operation}: {where} changed since it was scanned") from exc
        if code in ACCESS_CODES or status == "403":
            raise StorageAccessError(f"{operation}: access to {where} denied ({code})") from exc
        raise StorageError(f"{operation}: {where} failed ({code or status})") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 call for {where} failed ({type(exc).__name__})") from exc
