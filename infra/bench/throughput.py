"""Throughput against the local stack's Imagga-compatible server: the seed's script, `scan`, the function.

All three categorize the same camera-sized photographs against one emulator with a fixed latency
per request and the concurrency limit of a small Imagga plan:

- **the seed's batch script** (reimplemented from the article's description): one image after
  another, each uploaded in full to `/uploads`, then categorized by `image_upload_id`; a new
  connection for every request, no retries;
- **`scan DIR OUTDIR --concurrency N`**, the operator command, run as a subprocess (its start-up
  is included: that is what an operator waits for);
- **the function** through the local stack: S3 notifications on SQS, Lambda's event source
  mapping with `ImaggaMaxConcurrency` pollers, the real handler, S3 in moto.

The emulator answers fixed scores for every photo (registered by SHA-256), so each call costs the
configured latency and no model time, and the server's limit is exactly concurrency / latency
calls per second. Requests are counted from the emulator's request log; an answer other than 200
is a retry.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from infra.local.imagga_emulator import RequestRecord
from infra.local.stack import IMAGGA_KEY, IMAGGA_SECRET, LocalStack

from .photos import canvas_photos, series_plan

ROOT = Path(__file__).resolve().parents[2]
#: Scores every benchmark photo gets: SAFE, so nothing moves and every image costs the same.
SAFE_SCORES = {"safe": 98.5, "nsfw": 1.5}


@dataclass(frozen=True)
class Setup:
    images: int = 200
    megapixels: float = 12.0
    latency: float = 0.15  # seconds the emulator takes per request
    limit: int = 2  # the emulator's concurrency limit (Imagga's smallest plans)
    repeats: int = 3
    baseline_images: int = 50  # the seed's script is sequential: its rate needs fewer images
    upload_mode_images: int = 40

    @property
    def limit_calls_per_second(self) -> float:
        return self.limit / self.latency


@dataclass
class Run:
    images: int
    seconds: float
    requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    labelled: int | None = None  # the function: objects that ended with a status

    @property
    def per_second(self) -> float:
        return self.images / self.seconds


# --- the photographs --------------------------------------------------------------------------


def _write_canvas(directory: str, number: int, wanted: int, megapixels: float) -> list[str]:
    paths = []
    for index, data in enumerate(canvas_photos(number, wanted, megapixels, seed=number)):
        path = Path(directory) / f"photo-{number:02d}-{index:03d}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def make_photos(directory: Path, count: int, megapixels: float) -> list[Path]:
    """`count` different JPEGs in `directory`, made by two processes (about 0.15 s each on 2 cores)."""
    directory.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        futures = [
            pool.submit(_write_canvas, str(directory), number, wanted, megapixels)
            for number, wanted in enumerate(series_plan(count))
            if wanted
        ]
        paths = [Path(p) for future in futures for p in future.result()]
    # Interleave the canvases, so any prefix of the list is as varied as the whole set.
    return sorted(paths, key=lambda p: (int(p.stem.split("-")[2]), p.name))


# --- the three ways to categorize -------------------------------------------------------------


def seed_script(imagga_url: str, paths: list[Path], categorizer: str = "nsfw_beta") -> list[Any]:
    """The seed article's batch script: sequential, full uploads, two requests per image, no retries."""
    auth = (IMAGGA_KEY, IMAGGA_SECRET)
    results = []
    for path in paths:
        with path.open("rb") as image:
            # `requests.post` (no Session) opens a new connection for every request, as the script did.
            answer = requests.post(f"{imagga_url}/uploads", files={"image": image}, auth=auth, timeout=60)
        answer.raise_for_status()
        upload_id = answer.json()["result"]["upload_id"]
        answer = requests.get(
            f"{imagga_url}/categories/{categorizer}", params={"image_upload_id": upload_id}, auth=auth, timeout=60
        )
        answer.raise_for_status()
        results.append(answer.json()["result"]["categories"])
    return results


def scan_command(imagga_url: str, directory: Path, outdir: Path, concurrency: int) -> None:
    """`python -m moderator scan DIR OUTDIR --concurrency N` in a fresh process."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        "AWS_REGION": "us-east-1",
        "IMAGGA_API_ENDPOINT": imagga_url,
        "IMAGGA_API_KEY": IMAGGA_KEY,
        "IMAGGA_API_SECRET": IMAGGA_SECRET,
    }
    subprocess.run(
        [sys.executable, "-m", "moderator", "scan", str(directory), str(outdir), "--concurrency", str(concurrency)],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )


#: Longer than the pollers' long poll (1 s): after it, a paused mapping receives nothing more.
QUIET_SECONDS = 1.5


def quiet(stack: LocalStack) -> None:
    """Pause the pollers and wait out a long poll already under way, so new messages stay queued."""
    stack.pause()
    time.sleep(QUIET_SECONDS)


def through_function(stack: LocalStack, paths: list[Path], prefix: str, timeout: float = 600.0) -> tuple[float, int]:
    """Upload with the pollers paused, resume, time until every message was processed successfully.

    Returns (seconds, objects labelled). The clock starts at `resume()` and stops when the last
    message of this run has been handled.
    """
    assert stack.mapping is not None
    quiet(stack)
    s3 = stack.boto3_client("s3")
    keys = []
    for path in paths:
        key = stack.full_key(f"{prefix}/{path.name}")
        s3.put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes(), ContentType="image/jpeg")
        keys.append(key)
    marker = f"{prefix}%2F"  # the key as it appears, encoded, in the notification body
    before = len(stack.mapping.invocations)
    started = time.perf_counter()
    stack.resume()
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(done) < len(keys):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(done)} of {len(keys)} messages processed after {timeout:g}s")
        time.sleep(0.02)
        for invocation in stack.mapping.invocations[before:]:
            done.update(
                message_id
                for message_id, body in invocation.bodies.items()
                if marker in body and message_id not in invocation.failed_ids
            )
    seconds = time.perf_counter() - started
    labelled = sum(1 for key in keys if stack.object_status(key).status)
    return seconds, labelled


def _requests(log: list[RequestRecord]) -> tuple[Counter[str], int]:
    limited = [r for r in log if r.route.startswith(("/v2/categories/", "/v2/uploads"))]
    return Counter(f"{r.method} {r.route}" for r in limited), sum(1 for r in limited if r.status != 200)


def measured(stack: LocalStack, images: int, work: Callable[[], Any]) -> Run:
    """Run `work` with an empty request log; count what reached the emulator."""
    stack.imagga.reset_log()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    counts, retries = _requests(stack.imagga.request_log)
    run = Run(images=images, seconds=seconds, requests=counts, retries=retries)
    if isinstance(result, tuple):  # the function's own clock and its labelled count
        run.seconds, run.labelled = result
    return run


def register(stack: LocalStack, paths: list[Path]) -> dict[str, float]:
    """Fixed scores for every photo; returns the mean bytes of the originals and of what the function sends."""
    from moderator.imaging import prepare

    settings = stack.settings()
    original = sent = 0
    for path in paths:
        data = path.read_bytes()
        stack.register_fixed_scores(data, SAFE_SCORES)
        original += len(data)
        sent += len(prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels).data)
    return {"original": original / len(paths), "sent": sent / len(paths)}


def warm_up(stack: LocalStack, photos: list[Path]) -> None:
    """Every poller's first invocation loads what a cold container loads; keep that out of the figures."""
    through_function(stack, photos[: 4 * stack.max_concurrency], "warm-up")


def run(setup: Setup | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    setup = setup or Setup()
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as scratch:
        work = Path(scratch)
        started = time.perf_counter()
        photos = make_photos(work / "photos", setup.images, setup.megapixels)
        made_s = time.perf_counter() - started
        log(f"  {len(photos)} photos of {setup.megapixels:g} MP made in {made_s:.0f} s")
        baseline_photos = photos[: setup.baseline_images]
        runs: dict[str, list[Run]] = {"seed": [], "scan": [], "function": []}
        common = {
            "imagga_latency": setup.latency,
            "imagga_concurrency_limit": setup.limit,
            "register_demo_sample": False,
            "max_concurrency": setup.limit,
            # Every repeat sends the same photographs: with the content memory on, the second would be
            # decided from the first's scores. This table measures Imagga calls; memory.py the memory.
            "env": {"CONTENT_MEMORY": "off"},
        }
        with LocalStack(**common) as stack:
            sizes = register(stack, photos)
            batch_size = stack.batch_size
            warm_up(stack, photos)
            for repeat in range(setup.repeats):
                runs["seed"].append(
                    measured(stack, len(baseline_photos), lambda: seed_script(stack.imagga_url, baseline_photos))
                )
                outdir = work / f"scan-{repeat}"
                runs["scan"].append(
                    measured(
                        stack,
                        len(photos),
                        lambda out=outdir: scan_command(stack.imagga_url, work / "photos", out, setup.limit),
                    )
                )
                prefix = f"bench-{repeat}"
                function_run = measured(stack, len(photos), lambda p=prefix: through_function(stack, photos, p))
                runs["function"].append(function_run)
                log(
                    f"  repeat {repeat + 1}/{setup.repeats}: "
                    + ", ".join(f"{name} {r[-1].per_second:.2f} img/s" for name, r in runs.items())
                )
        upload_photos = photos[: setup.upload_mode_images]
        with LocalStack(upload_mode="upload", **common) as stack:
            register(stack, upload_photos)
            warm_up(stack, upload_photos)
            upload_run = measured(stack, len(upload_photos), lambda: through_function(stack, upload_photos, "upload"))
        log(f"  function, upload mode: {upload_run.per_second:.2f} img/s")
    return {
        "setup": setup,
        "runs": runs,
        "upload_mode": upload_run,
        "photos_made_s": made_s,
        "bytes": sizes,
        "batch_size": batch_size,
    }


def median_rate(runs: list[Run]) -> float:
    return statistics.median(r.per_second for r in runs)
