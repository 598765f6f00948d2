"""Thumbnails made here (the page never holds an S3 URL or a signature), once per version and ETag.

A thumbnail is asked for by bucket, key, version and ETag. One GET makes it (the version, or
`If-Match` on the ETag, pins the bytes; a body over the size limit is not read), and it is kept
in a small in-memory cache under exactly those four, so a page shown again costs no S3 call at
all; the browser keeps it too (the ETag validates it, and a pinned one never changes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ObjectChangedError, ObjectGoneError, StorageAccessError, StorageError
from ..imaging import PreparedImage, UnsupportedImageError, prepare
from ..model import Reason

THUMBNAIL_SHORT_SIDE = 240
#: About 15 KB each: a few thousand thumbnails is a few tens of MB.
CACHE_ENTRIES = 2048

Key = tuple[str, str, str | None, str | None]


class Thumbnails:
    def __init__(self, s3: Any, limits: Callable[[], tuple[int, int]], *, entries: int = CACHE_ENTRIES) -> None:
        self._s3 = s3
        #: (max image bytes, max image pixels), read at each miss: the settings may change.
        self._limits = limits
        self._entries = entries
        self._cache: OrderedDict[Key, PreparedImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str, version_id: str | None, etag: str | None) -> PreparedImage:
        """The thumbnail of that version (or of the object with that ETag). Cached only when pinned."""
        version = None if version_id in (None, "", "null") else version_id
        pinned = version is not None or etag is not None
        cache_key: Key = (bucket, key, version, etag)
        if pinned:
            with self._lock:
                cached = self._cache.get(cache_key)
                if cached is not None:
                    self._cache.move_to_end(cache_key)
                    return cached
        image = self._make(bucket, key, version, etag)
        if pinned:
            with self._lock:
                self._cache[cache_key] = image
                while len(self._cache) > self._entries:
                    self._cache.popitem(last=False)
        return image

    def _make(self, bucket: str, key: str, version: str | None, etag: str | None) -> PreparedImage:
        max_bytes, max_pixels = self._limits()
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            params["VersionId"] = version
        if etag:
            params["IfMatch"] = f'"{etag}"'
        where = f"s3://{bucket}/{key}"
        try:
            response = self._s3.get_object(**params)
            body = response["Body"]
            try:
                if int(response.get("ContentLength", 0)) > max_bytes:
                    raise UnsupportedImageError(Reason.TOO_LARGE, "too large to preview")
                data: bytes = body.read()
            finally:
                body.close()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
                raise ObjectGoneError(f"{where} is gone") from exc
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(f"{where} changed since the page was made") from exc
            if code in ("AccessDenied", "403", "AllAccessDisabled", "NoSuchBucket"):
                raise StorageAccessError(f"reading {where} was refused ({code})") from exc
            raise StorageError(f"reading {where} failed ({code})") from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading {where} failed ({type(exc).__name__})") from exc
        return prepare(data, short_side=THUMBNAIL_SHORT_SIDE, max_pixels=max_pixels)


def preview_of(data: bytes, max_pixels: int) -> PreparedImage:
    """Bytes from elsewhere (a rejected image's stored preview) re-encoded here, like every thumbnail."""
    return prepare(data, short_side=THUMBNAIL_SHORT_SIDE, max_pixels=max_pixels)


__all__ = ["THUMBNAIL_SHORT_SIDE", "Thumbnails", "UnsupportedImageError", "preview_of"]
