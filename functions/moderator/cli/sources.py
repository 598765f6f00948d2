"""Where `check` reads an image from: a local file, an http(s) URL, or s3://bucket/key."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import PermanentError
from ..model import ObjectRef
from .fetch import TooLargeError, UrlFetcher
from .runtime import Runtime, parse_s3_url

__all__ = ["TooLargeError", "download", "read_source"]


def read_source(source: str, runtime: Runtime, max_bytes: int, *, fetcher: UrlFetcher | None = None) -> bytes:
    if source.startswith(("http://", "https://")):
        return download(source, max_bytes, fetcher=fetcher)
    if source.startswith("s3://"):
        try:
            location = parse_s3_url(source)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="PATH_OR_URL") from exc
        storage = runtime.storage
        obj = storage.head(ObjectRef(location.bucket, location.key))
        if obj.size > max_bytes:
            raise TooLargeError(f"{source} is {obj.size} bytes, over the limit of {max_bytes}")
        return storage.read(obj)
    path = Path(source)
    if not path.is_file():
        raise PermanentError(f"{source}: no such file")
    if path.stat().st_size > max_bytes:
        raise TooLargeError(f"{source} is {path.stat().st_size} bytes, over the limit of {max_bytes}")
    return path.read_bytes()


def download(url: str, max_bytes: int, *, fetcher: UrlFetcher | None = None) -> bytes:
    """A URL may point at anything: public addresses only (unless allowed), a size cap, one deadline."""
    return (fetcher or UrlFetcher()).fetch(url, max_bytes)
