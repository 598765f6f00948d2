"""`backfill s3://bucket[/prefix]`: moderate objects that existed before the function."""

from __future__ import annotations

import csv
import io
import signal
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.progress import Progress

from ..assessment import CallLimit
from ..backfill import BackfillReport, needs_scan, run_backfill
from ..pipeline import not_an_upload
from .output import console, print_json
from .runtime import Runtime, parse_s3_url, with_runtime

WORKERS_PER_SLOT = 2


@click.command()
@click.argument("location", metavar="s3://BUCKET[/PREFIX]")
@click.option(
    "--rescan",
    is_flag=True,
    help="Moderate objects that already carry a status too, asking Imagga afresh (remembered scores are not reused).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be sent; change nothing.")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 32))
@click.option(
    "--batch-operations",
    "manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a CSV manifest of the objects to moderate here, for S3 Batch Operations.",
)
@click.option("--create-job", is_flag=True, help="With --batch-operations: upload the manifest and create the job.")
@click.option("--function-arn", help="The deployed function (for the Batch Operations job).")
@click.option("--role-arn", help="The role S3 Batch Operations assumes to invoke the function.")
@click.option("--account-id", help="Account of the job (default: the caller's).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_runtime
def backfill(
    runtime: Runtime,
    location: str,
    rescan: bool,
    dry_run: bool,
    concurrency: int,
    manifest: Path | None,
    create_job: bool,
    function_arn: str | None,
    role_arn: str | None,
    account_id: str | None,
    as_json: bool,
) -> None:
    """Moderate existing objects that carry no moderation:status (all of them with --rescan).

    The listing is streamed page by page, work is bounded, Ctrl-C stops cleanly, and a rerun
    resumes: the tags are the state.
    """
    from .main import EXIT_FAILED, EXIT_INTERRUPTED, ExpectedError

    try:
        target = parse_s3_url(location)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    settings = runtime.storage_settings
    if manifest is not None:
        count = write_manifest(runtime, target.bucket, target.key, settings.quarantine_prefix, manifest, rescan)
        console.print(f"manifest: {manifest} ({count} objects)")
        job = batch_job_request(runtime, target.bucket, manifest, function_arn, role_arn, account_id)
        if create_job:
            response = submit_job(runtime, target.bucket, manifest, job)
            console.print(f"created Batch Operations job {response.get('JobId')} (confirm it to start)")
        else:
            print_json(job)
        return
    moderator = None
    if not dry_run:
        # Twice the workers, `concurrency` Imagga calls at once: S3 reads, downscaling and tagging
        # overlap the calls instead of holding one of the plan's few slots idle. A rescan asks Imagga
        # again even for bytes whose scores are remembered (and remembers the new ones).
        moderator = replace(
            runtime.services.moderator,
            categorizer=CallLimit(runtime.imagga, concurrency),
            reuse_scores=not rescan,
        )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("backfill", total=None)

            def show(report: BackfillReport) -> None:
                done = sum(report.statuses.values())
                progress.update(
                    task,
                    completed=done + report.already_tagged + report.skipped + report.failed,
                    description=f"done {done} · already tagged {report.already_tagged} · "
                    f"skipped {report.skipped} · failed {report.failed}",
                )

            report = run_backfill(
                runtime.storage.list_objects(target.bucket, target.key),
                bucket=target.bucket,
                quarantine_prefix=settings.quarantine_prefix,
                storage=runtime.storage,
                moderate=(lambda ref: moderator.moderate(ref)) if moderator else _never,
                rescan=rescan,
                dry_run=dry_run,
                concurrency=WORKERS_PER_SLOT * concurrency,
                on_progress=show,
                stop=stop,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = {
        "listed": report.listed,
        "sent" if not dry_run else "would_send": report.sent,
        "already_tagged": report.already_tagged,
        "skipped": report.skipped,
        "failed": report.failed,
        "statuses": dict(report.statuses),
        "interrupted": report.interrupted,
    }
    if as_json:
        print_json(summary)
    else:
        console.print(" · ".join(f"{k}: {v}" for k, v in summary.items()))
        for failure in report.failures[:20]:
            console.print(f"failed: {failure}", markup=False)
    if report.interrupted:
        raise ExpectedError("interrupted: rerun the same command to resume", EXIT_INTERRUPTED)
    if report.failed:
        raise ExpectedError(f"{report.failed} object(s) failed; rerun to retry them", EXIT_FAILED)


def _never(ref: Any) -> Any:
    raise AssertionError("dry run must not moderate")


def write_manifest(runtime: Runtime, bucket: str, prefix: str, quarantine_prefix: str, path: Path, rescan: bool) -> int:
    """S3 Batch Operations CSV: bucket,key (URL-encoded), streamed to disk."""
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for item in runtime.storage.list_objects(bucket, prefix):
            if not_an_upload(item.key, quarantine_prefix):
                continue
            if needs_scan(runtime.storage, bucket, item.key, rescan=rescan):
                writer.writerow([bucket, quote(item.key, safe="/")])
                count += 1
    return count


def batch_job_request(
    runtime: Runtime, bucket: str, manifest: Path, function_arn: str | None, role_arn: str | None, account: str | None
) -> dict[str, Any]:
    account = account or _account_of(runtime)
    manifest_key = f"batch-manifests/{manifest.name}"
    return {
        "AccountId": account,
        "ConfirmationRequired": True,
        "Operation": {
            "LambdaInvoke": {"FunctionArn": function_arn or "<function-arn>", "InvocationSchemaVersion": "2.0"}
        },
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{manifest_key}", "ETag": "<etag after upload>"},
        },
        "Report": {
            "Bucket": f"arn:aws:s3:::{bucket}",
            "Prefix": "batch-reports",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "FailedTasksOnly",
        },
        "Priority": 10,
        "RoleArn": role_arn or "<role-arn>",
        "ClientRequestToken": str(uuid.uuid4()),
        "Description": "imagga-s3-moderator backfill",
    }


def submit_job(runtime: Runtime, bucket: str, manifest: Path, job: dict[str, Any]) -> dict[str, Any]:
    from .main import EXIT_SETUP, ExpectedError

    arns = job["Operation"]["LambdaInvoke"]["FunctionArn"], job["RoleArn"]
    if any(arn.startswith("<") for arn in arns):
        raise ExpectedError("--create-job needs --function-arn and --role-arn", EXIT_SETUP)
    key = job["Manifest"]["Location"]["ObjectArn"].split(":::", 1)[1].split("/", 1)[1]
    uploaded = runtime.s3.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(manifest.read_bytes()))
    job["Manifest"]["Location"]["ETag"] = str(uploaded["ETag"]).strip('"')
    return dict(runtime.client("s3control").create_job(**job))


def _account_of(runtime: Runtime) -> str:
    arn = runtime.caller_identity()
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else "<account-id>"
