"""`tags s3://bucket/key`: the moderation tags of one object."""

from __future__ import annotations

import click

from .. import tags as tag_schema
from ..model import ObjectRef
from .output import print_json, print_table
from .runtime import Runtime, parse_s3_url, with_runtime


@click.command()
@click.argument("location", metavar="s3://BUCKET/KEY")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def tags(runtime: Runtime, location: str, as_json: bool) -> None:
    """Print the moderation tags of one object."""
    try:
        target = parse_s3_url(location)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    storage = runtime.storage
    current = storage.get_tags(storage.head(ObjectRef(target.bucket, target.key)))
    ours = {k: v for k, v in current.items() if tag_schema.is_moderation_key(k)}
    if as_json:
        print_json(ours)
        return
    print_table(location, ("tag", "value"), sorted(ours.items()))
