"""What a form or a link names, read strictly: an object as the moderator saw it, a list to go back to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode

from flask import abort, url_for

from .rows import Target

#: Lists a decision returns to; anything else falls back to the first.
LISTS = ("review_list", "quarantine_list")
#: The arguments of a list a decision returns to (its filters and page): nothing else is carried.
LIST_ARGS = ("status", "prefix", "from", "to", "page")
SHA256 = re.compile(r"[0-9a-f]{64}")


def target(source: Mapping[str, Any]) -> Target:
    """The object a form or link names, with what the moderator saw of it (version, ETag, SHA-256)."""
    bucket, key = source.get("bucket", ""), source.get("key", "")
    if not bucket or not key:
        abort(400, description="which object? (bucket and key are required)")
    version_id = str(source.get("version_id", "")).strip() or None
    etag = str(source.get("etag", "")).strip().strip('"') or None
    sha256 = str(source.get("sha256", "")).strip().lower() or None
    if sha256 is not None and not SHA256.fullmatch(sha256):
        abort(400, description="sha256 must be 64 hexadecimal characters")
    if (version_id and len(version_id) > 1024) or (etag and len(etag) > 256):
        abort(400, description="version_id or etag is too long")
    if len(str(key)) > 1024 or len(str(bucket)) > 255:
        abort(400, description="bucket or key is too long")
    return Target(str(bucket), str(key), version_id, etag, sha256)


def selection(value: str) -> Target:
    """One selected row of a bulk decision: its checkbox value is the query string `Item.selection` wrote."""
    if len(value) > 4096:
        abort(400, description="a selected object is named by too long a value")
    parsed = parse_qs(value, keep_blank_values=False, strict_parsing=False, max_num_fields=8)
    return target({name: values[0] for name, values in parsed.items() if values})


def back_list(name: str | None) -> str:
    return name if name in LISTS else LISTS[0]


def back_args(encoded: str | None) -> dict[str, str]:
    """The list's filters and page to return to (a query string in the form), known names only."""
    if not encoded or len(encoded) > 2048:
        return {}
    parsed = parse_qs(encoded, max_num_fields=len(LIST_ARGS) + 2)
    return {name: parsed[name][0] for name in LIST_ARGS if parsed.get(name)}


def back_url(form: Mapping[str, Any]) -> str:
    """Where a decision returns: one of our lists, built here (never a URL the form supplied)."""
    args: dict[str, Any] = back_args(form.get("back_args"))
    return url_for(back_list(form.get("back")), **args)


def encoded(args: Mapping[str, str]) -> str:
    return urlencode({name: args[name] for name in LIST_ARGS if args.get(name)})
