"""`backfill s3://bucket[/prefix]`: moderate objects that existed before the function.

Within a stack (`--stack-name`, or `--queue-url`) the command sends one backfill task per object
to the stack's backfill queue: the stack moderates them within its one Imagga budget, behind live
uploads, and this machine never calls Imagga. `--local` moderates from this machine (for buckets
no stack moderates). `--batch-operations` writes an S3 Batch Operations manifest and, with
`--create-job`, creates the job, taking its function, role, bucket and account from the stack.
"""

from __future__ import annotations

import csv
import io
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.progress import Progress

from ..assessment import CallLimit
from ..backfill import BackfillReport, needs_scan, queue_backfill, run_backfill
from ..budget import SharedBudget
from ..budget_table import DynamoDBBudgetStore
from ..errors import ModeratorError
from ..events import BackfillTask, backfill_task_body
from ..model import ObjectRef
from ..pipeline import not_an_upload
from ..queues import Queues
from .output import console, print_json
from .runtime import Runtime, S3Location, parse_s3_url, with_runtime
from .stack_outputs import (
    BACKFILL_QUEUE_URL,
    BATCH_OPERATIONS_BUCKET,
    BATCH_OPERATIONS_ROLE_ARN,
    BUDGET_TABLE,
    FUNCTION_ARN,
    StackOutputs,
    read_stack,
)

WORKERS_PER_SLOT = 2
#: Tag reads in flight while tasks are sent to a stack's queue (no Imagga call is made here).
QUEUE_CHECKS_IN_FLIGHT = 8
MANIFESTS, REPORTS = "batch-manifests", "batch-reports"
NOWHERE = (
    "say where the work goes: --stack-name NAME sends it to that stack's backfill queue (its one Imagga "
    "budget, live uploads first), --local moderates from this machine (calling Imagga itself: only for "
    "buckets no stack moderates)"
)


@dataclass(frozen=True)
class BatchJobTarget:
    """What a Batch Operations job needs: who it invokes, as whom, where the manifest and report go."""

    function_arn: str | None
    role_arn: str | None
    bucket: str
    account: str | None


@click.command()
@click.argument("location", metavar="s3://BUCKET[/PREFIX]")
@click.option(
    "--stack-name",
    help="The stack that moderates the bucket: tasks go to its backfill queue (and, with --batch-operations, "
    "the job's function, role, bucket and account come from its outputs).",
)
@click.option(
    "--queue-url",
    envvar="BACKFILL_QUEUE_URL",
    help="A stack's backfill queue (its output BackfillQueueUrl), instead of --stack-name.",
)
@click.option(
    "--local",
    "local_mode",
    is_flag=True,
    help="Moderate from this machine, --concurrency Imagga calls at once: for buckets no stack moderates "
    "(they add to any stack's calls on the same Imagga account).",
)
@click.option(
    "--rescan",
    is_flag=True,
    help="Moderate objects that already carry a status too, asking Imagga afresh (remembered scores are not reused).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be sent; change nothing.")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 32), help="With --local.")
@click.option(
    "--batch-operations",
    "manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a CSV manifest of the objects to moderate here, for S3 Batch Operations.",
)
@click.option("--create-job", is_flag=True, help="With --batch-operations: upload the manifest and create the job.")
@click.option("--function-arn", help="The function the job invokes (default: the stack's FunctionArn).")
@click.option("--role-arn", help="The role S3 Batch Operations assumes (default: the stack's BatchOperationsRoleArn).")
@click.option("--report-bucket", help="Bucket for the manifest and the job's report (default: the stack's).")
@click.option("--account-id", help="Account of the job (default: the stack's, else the caller's).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_runtime
def backfill(
    runtime: Runtime,
    location: str,
    stack_name: str | None,
    queue_url: str | None,
    local_mode: bool,
    rescan: bool,
    dry_run: bool,
    concurrency: int,
    manifest: Path | None,
    create_job: bool,
    function_arn: str | None,
    role_arn: str | None,
    report_bucket: str | None,
    account_id: str | None,
    as_json: bool,
) -> None:
    """Moderate existing objects that carry no moderation:status (all of them with --rescan).

    The listing is streamed page by page, work is bounded, Ctrl-C stops cleanly, and a rerun
    resumes: the tags are the state.
    """
    from .main import EXIT_SETUP, ExpectedError

    try:
        target = parse_s3_url(location)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if local_mode and (stack_name or queue_url):
        raise ExpectedError("--local moderates from this machine: leave out --stack-name and --queue-url", EXIT_SETUP)
    stack = read_stack(runtime, stack_name) if stack_name else None
    if manifest is not None:
        job_target = BatchJobTarget(
            function_arn=function_arn or (stack.need(FUNCTION_ARN) if stack else None),
            role_arn=role_arn or (stack.need(BATCH_OPERATIONS_ROLE_ARN) if stack else None),
            bucket=report_bucket or (stack.need(BATCH_OPERATIONS_BUCKET) if stack else target.bucket),
            account=account_id or (stack.account if stack else None),
        )
        _batch_operations(runtime, target, manifest, job_target, rescan=rescan, create=create_job)
        return
    if stack is not None:
        queue_url = stack.need(BACKFILL_QUEUE_URL)
    if queue_url and not local_mode:
        _to_queue(runtime, target, queue_url, stack, rescan=rescan, dry_run=dry_run, as_json=as_json)
        return
    if not local_mode and not dry_run:
        raise ExpectedError(NOWHERE, EXIT_SETUP)
    _here(runtime, target, rescan=rescan, dry_run=dry_run, concurrency=concurrency, as_json=as_json)


# --- to a stack's backfill queue -------------------------------------------------------------------


def _to_queue(
    runtime: Runtime,
    target: S3Location,
    queue_url: str,
    stack: StackOutputs | None,
    *,
    rescan: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    settings = runtime.storage_settings
    run = uuid.uuid4().hex[:12]
    queues = Queues(lambda: runtime.client("sqs"))
    if stack is not None and not dry_run:
        _say_if_paused(runtime, stack)

    def send(refs: list[ObjectRef]) -> None:
        tasks = [BackfillTask(ref, rescan=rescan, source="command-line", run=run) for ref in refs]
        queues.send(queue_url, [backfill_task_body(task) for task in tasks])

    with _progress_and_stop() as (show, stop):
        report = queue_backfill(
            runtime.storage.list_objects(target.bucket, target.key),
            bucket=target.bucket,
            quarantine_prefix=settings.quarantine_prefix,
            storage=runtime.storage,
            send=send,
            rescan=rescan,
            dry_run=dry_run,
            concurrency=QUEUE_CHECKS_IN_FLIGHT,
            on_progress=lambda r: show(r, f"queued {r.sent}"),
            stop=stop,
        )
    summary = {
        "listed": report.listed,
        "would_queue" if dry_run else "queued": report.sent,
        "already_tagged": report.already_tagged,
        "skipped": report.skipped,
        "failed": report.failed,
        "interrupted": report.interrupted,
        "queue": queue_url,
        "run": run,
    }
    _finish(summary, report, as_json)
    if not as_json and report.sent and not dry_run:
        console.print(
            "the stack moderates them behind live uploads, within its ImaggaMaxConcurrency; what is left shows as "
            "ApproximateNumberOfMessages of the queue"
        )


def _say_if_paused(runtime: Runtime, stack: StackOutputs) -> None:
    """Tasks sent while backfill work is paused wait in the queue: say so, and until when."""
    table = stack.outputs.get(BUDGET_TABLE)
    reserve = stack.parameters.get("BackfillQuotaReserve", "")
    if not table or not reserve.isdigit():
        return
    budget = SharedBudget(DynamoDBBudgetStore(runtime.client("dynamodb"), table), slots=1, reserve=int(reserve))
    try:
        pause = budget.backfill_pause()
    except ModeratorError as exc:
        console.print(f"(could not read the stack's Imagga budget: {exc})", markup=False)
        return
    if pause is not None:
        console.print(f"warning: {pause.describe()}: the tasks wait in the queue until then", markup=False)


# --- from this machine ---------------------------------------------------------------------------------


def _here(
    runtime: Runtime, target: S3Location, *, rescan: bool, dry_run: bool, concurrency: int, as_json: bool
) -> None:
    settings = runtime.storage_settings
    moderator = None
    if not dry_run:
        # Twice the workers, `concurrency` Imagga calls at once: S3 reads, downscaling and tagging
        # overlap the calls instead of holding one of the plan's few slots idle.
        # A rescan asks Imagga again even for bytes whose scores are remembered (and remembers the new ones).
        moderator = replace(
            runtime.services.moderator,
            categorizer=CallLimit(runtime.imagga, concurrency),
            reuse_scores=not rescan,
        )
    with _progress_and_stop() as (show, stop):
        report = run_backfill(
            runtime.storage.list_objects(target.bucket, target.key),
            bucket=target.bucket,
            quarantine_prefix=settings.quarantine_prefix,
            storage=runtime.storage,
            moderate=(lambda ref: moderator.moderate(ref)) if moderator else _never,
            rescan=rescan,
            dry_run=dry_run,
            concurrency=WORKERS_PER_SLOT * concurrency,
            on_progress=lambda r: show(r, f"done {sum(r.statuses.values())}"),
            stop=stop,
        )
    summary = {
        "listed": report.listed,
        "sent" if not dry_run else "would_send": report.sent,
        "already_tagged": report.already_tagged,
        "skipped": report.skipped,
        "failed": report.failed,
        "statuses": dict(report.statuses),
        "interrupted": report.interrupted,
    }
    _finish(summary, report, as_json)


@contextmanager
def _progress_and_stop() -> Iterator[tuple[Callable[[BackfillReport, str], None], threading.Event]]:
    """A progress line, and SIGTERM turned into a clean stop (what is in flight finishes)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("backfill", total=None)

            def show(report: BackfillReport, done: str) -> None:
                progress.update(
                    task,
                    completed=report.sent + report.already_tagged + report.skipped + report.failed,
                    description=f"{done} · already tagged {report.already_tagged} · "
                    f"skipped {report.skipped} · failed {report.failed}",
                )

            yield show, stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finish(summary: dict[str, Any], report: BackfillReport, as_json: bool) -> None:
    from .main import EXIT_FAILED, EXIT_INTERRUPTED, ExpectedError

    if as_json:
        print_json(summary)
    else:
        console.print(" · ".join(f"{k}: {v}" for k, v in summary.items()), markup=False)
        for failure in report.failures[:20]:
            console.print(f"failed: {failure}", markup=False)
    if report.interrupted:
        raise ExpectedError("interrupted: rerun the same command to resume", EXIT_INTERRUPTED)
    if report.failed:
        raise ExpectedError(f"{report.failed} object(s) failed; rerun to retry them", EXIT_FAILED)


def _never(ref: Any) -> Any:
    raise AssertionError("dry run must not moderate")


# --- S3 Batch Operations -------------------------------------------------------------------------------


def _batch_operations(
    runtime: Runtime, target: S3Location, manifest: Path, job_target: BatchJobTarget, *, rescan: bool, create: bool
) -> None:
    settings = runtime.storage_settings
    count = write_manifest(runtime, target.bucket, target.key, settings.quarantine_prefix, manifest, rescan)
    console.print(f"manifest: {manifest} ({count} objects)")
    job = batch_job_request(runtime, job_target, manifest, rescan=rescan)
    if create:
        response = submit_job(runtime, job_target.bucket, manifest, job)
        console.print(f"created Batch Operations job {response.get('JobId')} (confirm it to start)")
    else:
        print_json(job)


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


def batch_job_request(runtime: Runtime, target: BatchJobTarget, manifest: Path, *, rescan: bool) -> dict[str, Any]:
    account = target.account or _account_of(runtime)
    invoke: dict[str, Any] = {"FunctionArn": target.function_arn or "<function-arn>", "InvocationSchemaVersion": "2.0"}
    if rescan:
        # Schema 2.0 hands these to every task: the function queues the tasks as a rescan.
        invoke["UserArguments"] = {"rescan": "true"}
    return {
        "AccountId": account,
        "ConfirmationRequired": True,
        "Operation": {"LambdaInvoke": invoke},
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {
                "ObjectArn": f"arn:aws:s3:::{target.bucket}/{MANIFESTS}/{manifest.name}",
                "ETag": "<etag after upload>",
            },
        },
        "Report": {
            "Bucket": f"arn:aws:s3:::{target.bucket}",
            "Prefix": REPORTS,
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "FailedTasksOnly",
        },
        "Priority": 10,
        "RoleArn": target.role_arn or "<role-arn>",
        "ClientRequestToken": str(uuid.uuid4()),
        "Description": f"imagga-s3-moderator backfill {time.strftime('%Y-%m-%d %H:%M')}",
    }


def submit_job(runtime: Runtime, bucket: str, manifest: Path, job: dict[str, Any]) -> dict[str, Any]:
    from .main import EXIT_SETUP, ExpectedError

    arns = job["Operation"]["LambdaInvoke"]["FunctionArn"], job["RoleArn"]
    if any(arn.startswith("<") for arn in arns):
        raise ExpectedError("--create-job needs --stack-name, or --function-arn and --role-arn", EXIT_SETUP)
    key = job["Manifest"]["Location"]["ObjectArn"].split(":::", 1)[1].split("/", 1)[1]
    uploaded = runtime.s3.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(manifest.read_bytes()))
    job["Manifest"]["Location"]["ETag"] = str(uploaded["ETag"]).strip('"')
    return dict(runtime.client("s3control").create_job(**job))


def _account_of(runtime: Runtime) -> str:
    arn = runtime.caller_identity()
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else "<account-id>"
