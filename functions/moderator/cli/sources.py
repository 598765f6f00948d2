"""Where `check` reads an image from: a local file, an http(s) URL, or s3://bucket/key."""

from __future__ import annotations

from pathlib import Path

import click
import requests

from ..errors import ModeratorError, PermanentError, TransientError
from ..model import ObjectRef
from .runtime import Runtime, parse_s3_url

DOWNLOAD_TIMEOUT = (5.0, 20.0)


class TooLargeError(PermanentError):
    kind = "too-large"


def read_source(source: str, runtime: Runtime, max_bytes: int) -> bytes:
    if source.startswith(("http://", "https://")):
        return download(source, max_bytes)
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


def download(url: str, max_bytes: int) -> bytes:
    """Stream with a size cap and timeouts: a URL may point at anything."""
    try:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status_code != 200:
                raise PermanentError(f"{url}: HTTP {response.status_code}")
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise TooLargeError(f"{url} is larger than the limit of {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except ModeratorError:
        raise
    except requests.RequestException as exc:
        raise TransientError(f"{url}: download failed ({type(exc).__name__})") from exc
