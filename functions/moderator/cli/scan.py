"""`scan DIR OUTDIR`: every image in a folder, one JSON result each, resumable."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import click
from rich.progress import Progress

from ..assessment import CallLimit, Categorizer, assess
from ..errors import ModeratorError
from ..model import Reason, Status
from .check import assessment_json
from .output import console, format_scores, print_table
from .runtime import Runtime, now_utc, with_runtime

WORKERS_PER_SLOT = 2
#: Not images at all: listed as skipped, no result written.
SKIPPED_REASONS = frozenset({str(Reason.NOT_AN_IMAGE), str(Reason.EMPTY)})


@dataclass(frozen=True)
class FileResult:
    path: str
    state: str  # done | kept | skipped | failed
    status: str = ""
    detail: str = ""


def result_path(outdir: Path, root: Path, path: Path) -> Path:
    return outdir / (str(path.relative_to(root)) + ".json")


def scan_file(
    path: Path, root: Path, outdir: Path, runtime: Runtime, categorizer: Categorizer, force: bool
) -> FileResult:
    rel = str(path.relative_to(root))
    target = result_path(outdir, root, path)
    if target.exists() and not force:
        return FileResult(rel, "kept", json.loads(target.read_text()).get("status", ""))
    data = path.read_bytes()
    try:
        assessment = assess(data, categorizer, runtime.settings)
    except ModeratorError as exc:
        return FileResult(rel, "failed", detail=str(exc))
    verdict = assessment.verdict
    if verdict.status is Status.UNSUPPORTED and verdict.reason in SKIPPED_REASONS:
        return FileResult(rel, "skipped", str(verdict.status), str(verdict.reason))
    if verdict.status in (Status.UNSUPPORTED, Status.ERROR):
        return FileResult(rel, "failed", str(verdict.status), f"{verdict.reason}: {assessment.detail}")
    result = assessment_json(rel, assessment, runtime)
    result["sha256"] = hashlib.sha256(data).hexdigest()
    result["scanned_at"] = now_utc()
    result["imagga"] = assessment.categorization.raw if assessment.categorization else None
    _write_atomically(target, json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False))
    return FileResult(rel, "done", str(verdict.status), format_scores(verdict.scores))


def _write_atomically(target: Path, text: str) -> None:
    """An interrupted scan leaves whole results or none: a half-written file would be 'kept'."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text)
    temporary.replace(target)


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 32), help="Parallel Imagga calls.")
@click.option("--force", is_flag=True, help="Categorize again even where a result exists.")
@with_runtime
def scan(runtime: Runtime, directory: Path, outdir: Path, concurrency: int, force: bool) -> None:
    """Categorize every image under DIRECTORY; write one JSON result per image into OUTDIR.

    Images are recognised by their bytes, not their names. Existing results are kept (the scan
    resumes) unless --force. Exits non-zero when any image failed.
    """
    from .main import EXIT_FAILED, ExpectedError

    runtime.settings  # fail fast on configuration, before any work  # noqa: B018
    root = directory.resolve()
    out = outdir.resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and out not in p.parents)
    results: list[FileResult] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("scanning", total=len(files))
        # Twice the workers, `concurrency` Imagga calls at once: reading and downscaling overlap the calls.
        categorizer = CallLimit(runtime.imagga, concurrency)
        pool = ThreadPoolExecutor(max_workers=WORKERS_PER_SLOT * concurrency)
        try:
            futures = [pool.submit(scan_file, path, root, out, runtime, categorizer, force) for path in files]
            for future in as_completed(futures):
                results.append(future.result())
                progress.advance(task)
        finally:
            # On Ctrl-C: drop what has not started; what runs finishes and writes whole results.
            pool.shutdown(wait=True, cancel_futures=True)
    results.sort(key=lambda r: r.path)
    print_table(
        "scan", ("file", "result", "status", "detail"), ((r.path, r.state, r.status, r.detail) for r in results)
    )
    counts = Counter(r.state for r in results)
    console.print(", ".join(f"{state}: {counts.get(state, 0)}" for state in ("done", "kept", "skipped", "failed")))
    if counts.get("failed"):
        raise ExpectedError(f"{counts['failed']} image(s) failed", EXIT_FAILED)
