"""What the content memory saves and costs: Imagga calls, throughput and DynamoDB requests per upload,
with the memory off and on, in one run; and the near-copy index at 100,000 rejected images.

The workload is one list of uploads, the same for every run: 60 % photographs seen for the first
time, 30 % the bytes of one uploaded at least `min_gap` places earlier in the list (under another
key), 10 % near-copies (half size, JPEG quality 50, cropped 5 %, 20 % brighter or darker) of
photographs a moderator rejected before the run. The uploads land with the pollers paused, then the
function drains the queue through the local stack, as in the throughput benchmark; the emulator
answers fixed scores after a fixed latency, within the concurrency limit of a small Imagga plan.

Runs: `CONTENT_MEMORY=off`; `on`; `on` with a delay added to every DynamoDB request of the function
(infra/soak/s3_faults.py `Latency`), since moto answers in about a millisecond and AWS's in-region
DynamoDB in a few. DynamoDB requests are counted per operation on the function's own client.

The index figures need no stack: 100,000 rejected images are simulated from the hashes the sample
photos are really indexed by (how many per image, how far the cropped copies' hashes lie from the
image's own), the four 16-bit parts indexed as the DynamoDB items are, and look-ups timed.

    python -m infra.bench.memory        # this section alone (make bench runs it with the others)
"""

from __future__ import annotations

import hashlib
import io
import random
import statistics
import tempfile
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance

from infra.local.stack import LocalStack
from infra.soak.s3_faults import Latency

from .corpus import SAMPLES, SOURCES, crop, generated
from .report import table
from .throughput import SAFE_SCORES, through_function

NEAR_COPY_KINDS = ("half size", "JPEG quality 50", "cropped 5 %", "brightness +20 %", "brightness -20 %")


@dataclass(frozen=True)
class Setup:
    uploads: int = 200
    megapixels: float = 3.0
    #: Seconds the emulator takes per request. The throughput table uses 0.15 s to find the function's
    #: own limit; at that speed this local stack (one Python process) runs out of CPU before Imagga's
    #: limit, so an Imagga call saved would save no time. 0.5 s is still quicker than Imagga often is.
    latency: float = 0.5
    limit: int = 2  # the emulator's concurrency limit
    repeat_share: float = 0.30
    near_share: float = 0.10
    rejected: int = 10
    min_gap: int = 20
    dynamodb_latency: float = 0.010
    index_images: int = 100_000
    index_lookups: int = 1_000


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    kind: str  # "new", "repeat" or "near-copy"


@dataclass
class Run:
    label: str
    uploads: int
    seconds: float
    imagga_calls: int
    dynamodb: Counter[str] = field(default_factory=Counter)
    near_copies_quarantined: int = 0
    near_copies: int = 0
    labelled: int = 0

    @property
    def per_second(self) -> float:
        return self.uploads / self.seconds


class DynamoDBRequests:
    """Counts the function's DynamoDB requests by operation (its clients only, through the stack's hook)."""

    def __init__(self, latency: Latency | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._latency = latency

    def attach(self, service: str, client: Any) -> None:
        if service == "dynamodb":
            client.meta.events.register("before-call.dynamodb", self._count)
        if self._latency is not None:
            self._latency.attach(service, client)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


# --- the workload ----------------------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def near_copy(data: bytes, kind: str, rng: random.Random) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    if kind == "half size":
        return _jpeg(image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS), 85)
    if kind == "JPEG quality 50":
        return _jpeg(image, 50)
    if kind == "cropped 5 %":
        return _jpeg(crop(image, 0.05, rng.random(), rng.random()))
    return _jpeg(ImageEnhance.Brightness(image).enhance(1.2 if "+" in kind else 0.8))


def distinct_photo(number: int, megapixels: float) -> bytes:
    """A picture unlike every other number's (corpus.generated), at camera size with sensor noise.

    Not the sample photos: the benchmark series cuts its photos from a few canvases, so they look
    alike, and the near-copy check would rightly take them for one another.
    """
    import numpy as np

    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    picture = generated(50_000 + number).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(number).normal(0, 6.0, (height, width, 3))
    pixels = np.clip(np.asarray(picture, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return _jpeg(Image.fromarray(pixels))


def workload(setup: Setup) -> tuple[list[Upload], list[bytes], list[bytes]]:
    """(the uploads in order, the photos rejected before the run, photos to warm the stack up with)."""
    repeats = round(setup.uploads * setup.repeat_share)
    nears = round(setup.uploads * setup.near_share)
    new = setup.uploads - repeats - nears
    warm = 4 * setup.limit
    photos = [distinct_photo(number, setup.megapixels) for number in range(new + setup.rejected + warm)]
    fresh, rejected, warm_up = photos[:new], photos[new : new + setup.rejected], photos[new + setup.rejected :]
    rng = random.Random(5)
    kinds = ["repeat"] * repeats + ["near-copy"] * nears + ["new"] * (new - setup.min_gap)
    rng.shuffle(kinds)
    kinds = ["new"] * setup.min_gap + kinds  # a repeat needs an original at least min_gap places before it
    uploads: list[Upload] = []
    new_at: list[int] = []
    fresh_left = iter(fresh)
    for position, kind in enumerate(kinds):
        if kind == "new":
            new_at.append(position)
            uploads.append(Upload(f"{position:03d}-new.jpg", next(fresh_left), kind))
        elif kind == "repeat":
            original = rng.choice([at for at in new_at if at <= position - setup.min_gap])
            uploads.append(Upload(f"{position:03d}-repeat-of-{original:03d}.jpg", uploads[original].data, kind))
        else:
            number = len([u for u in uploads if u.kind == "near-copy"])
            source = number % len(rejected)
            variant = NEAR_COPY_KINDS[(number // len(rejected)) % len(NEAR_COPY_KINDS)]
            data = near_copy(rejected[source], variant, rng)
            uploads.append(Upload(f"{position:03d}-near-copy-of-rejected-{source}.jpg", data, kind))
    return uploads, rejected, warm_up


def _remember_rejected(stack: LocalStack, rejected: list[bytes]) -> None:
    """What `quarantine purge` leaves in the memory for each photo a moderator rejected."""
    from moderator.content_memory import rejection_of
    from moderator.ledger import DynamoDBLedger

    ledger = DynamoDBLedger(stack.boto3_client("dynamodb"), stack.decisions_table)
    for number, data in enumerate(rejected):
        sha256 = hashlib.sha256(data).hexdigest()
        rejection = rejection_of(
            sha256,
            data,
            location=f"s3://{stack.bucket}/{stack.incoming_prefix}rejected-{number}.jpg",
            rejected_by="bench-moderator",
            rejected_at="2026-11-02T09:00:00Z",
            settings=stack.settings(),
        )
        ledger.remember_rejected(rejection.image, rejection.index)


def _write(directory: Path, uploads: list[Upload]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for upload in uploads:
        path = directory / upload.name
        path.write_bytes(upload.data)
        paths.append(path)
    return paths


def one_run(
    label: str,
    memory: str,
    setup: Setup,
    paths: list[Path],
    uploads: list[Upload],
    rejected: list[bytes],
    warm_up: list[Path],
    dynamodb_latency: float = 0.0,
) -> Run:
    requests = DynamoDBRequests(Latency(dynamodb_latency) if dynamodb_latency else None)
    with LocalStack(
        imagga_latency=setup.latency,
        imagga_concurrency_limit=setup.limit,
        max_concurrency=setup.limit,
        register_demo_sample=False,
        env={"CONTENT_MEMORY": memory},
        function_client_hook=requests.attach,
    ) as stack:
        for data in {u.data for u in uploads} | {p.read_bytes() for p in warm_up}:
            stack.register_fixed_scores(data, SAFE_SCORES)
        if memory != "off":
            _remember_rejected(stack, rejected)
        through_function(stack, warm_up, "warm-up")
        requests.reset()
        stack.imagga.reset_log()
        seconds, labelled = through_function(stack, paths, f"run-{memory}")
        calls = stack.imagga.count("/v2/categories/", answered=200)
        near = [f"run-{memory}/{u.name}" for u in uploads if u.kind == "near-copy"]
        quarantined = sum(
            1 for key in near if stack.object_status(key).tags.get("moderation:reason") == "matches-rejected"
        )
    return Run(label, len(paths), seconds, calls, Counter(requests.counts), quarantined, len(near), labelled)


# --- the index at 100,000 rejected images -----------------------------------------------------


@dataclass(frozen=True)
class IndexFigures:
    images: int
    hashes: int
    hashes_per_image: float
    entries_per_item_mean: float
    entries_per_item_max: int
    bytes_per_lookup_mean: float
    candidates_mean: float
    cpu_us_median: float
    near_found: int
    near_tried: int
    false_matches: int


def index_figures(images: int, lookups: int, seed: int = 9) -> IndexFigures:
    """Simulate `images` rejected images from the samples' real index hashes; time look-ups."""
    from moderator.content_memory import rejection_of
    from moderator.fingerprint import MATCH_DISTANCE, PARTS, closest, distance, parts
    from moderator.settings import Settings

    counts, spreads = [], []
    for name in SOURCES:
        data = (SAMPLES / name).read_bytes()
        rejection = rejection_of("x", data, location="", rejected_by="", rejected_at="", settings=Settings())
        (own,) = rejection.image.fingerprints
        counts.append(len(rejection.index))
        spreads += [distance(own, value) for value in rejection.index if value != own]
    rng = random.Random(seed)
    hashes: list[int] = []
    owners: list[int] = []
    bases: list[int] = []
    for image in range(images):
        base = rng.getrandbits(64)
        bases.append(base)
        hashes.append(base)  # its own hash, then its cropped copies'
        owners.append(image)
        for _ in range(rng.choice(counts) - 1):
            value = base
            for bit in rng.sample(range(64), rng.choice(spreads)):
                value ^= 1 << bit
            hashes.append(value)
            owners.append(image)
    # The index: for each part, (part value, entry) sorted, as the items `near#<part>#<value>` hold them.
    index = []
    for part in range(PARTS):
        index.append(sorted((parts(value)[part], number) for number, value in enumerate(hashes)))
    keys = [[entry[0] for entry in column] for column in index]
    entry_bytes = 64 + 1 + 16  # "<sha256>:<hash>" in the item's string set
    item_sizes = [Counter(column) for column in keys]

    def look_up(value: int) -> tuple[list[tuple[str, int]], int]:
        found: list[tuple[str, int]] = []
        for part, wanted in enumerate(parts(value)):
            low, high = bisect_left(keys[part], wanted), bisect_right(keys[part], wanted)
            found += [(str(owners[number]), hashes[number]) for _, number in index[part][low:high]]
        return found, len(found)

    cpu, sizes, candidates, false_matches = [], [], [], 0
    for _ in range(lookups):
        query = rng.getrandbits(64)
        started = time.perf_counter()
        found, size = look_up(query)
        matched = closest([query], found, MATCH_DISTANCE)
        cpu.append((time.perf_counter() - started) * 1e6)
        sizes.append(size * entry_bytes)
        candidates.append(size)
        false_matches += bool(matched)
    near_found = 0
    for _ in range(lookups):
        owner = rng.randrange(images)
        query = bases[owner]
        for bit in rng.sample(range(64), rng.randint(0, MATCH_DISTANCE)):
            query ^= 1 << bit
        found, _ = look_up(query)
        near_found += any(name == str(owner) for name, _ in closest([query], found, MATCH_DISTANCE))
    per_item = [count for column in item_sizes for count in column.values()]
    return IndexFigures(
        images=images,
        hashes=len(hashes),
        hashes_per_image=len(hashes) / images,
        entries_per_item_mean=statistics.mean(per_item),
        entries_per_item_max=max(per_item),
        bytes_per_lookup_mean=statistics.mean(sizes),
        candidates_mean=statistics.mean(candidates),
        cpu_us_median=statistics.median(cpu),
        near_found=near_found,
        near_tried=lookups,
        false_matches=false_matches,
    )


# --- the run and its report -------------------------------------------------------------------


def run(setup: Setup | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    setup = setup or Setup()
    uploads, rejected, warm_photos = workload(setup)
    kinds = Counter(u.kind for u in uploads)
    log(f"  content memory: {len(uploads)} uploads ({dict(kinds)}), {setup.rejected} rejected photos")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        paths = _write(Path(scratch) / "uploads", uploads)
        warm = _write(Path(scratch) / "warm", [Upload(f"warm-{n}.jpg", d, "new") for n, d in enumerate(warm_photos)])
        for label, memory, delay in (
            ("off (`CONTENT_MEMORY=off`)", "off", 0.0),
            ("on", "on", 0.0),
            (f"on, +{setup.dynamodb_latency * 1000:.0f} ms per DynamoDB request", "on", setup.dynamodb_latency),
        ):
            result = one_run(label, memory, setup, paths, uploads, rejected, warm, delay)
            runs.append(result)
            log(f"  memory {label}: {result.imagga_calls} Imagga calls, {result.per_second:.2f} uploads/s")
    started = time.perf_counter()
    index = index_figures(setup.index_images, setup.index_lookups)
    log(f"  index of {index.images} rejected images simulated in {time.perf_counter() - started:.0f} s")
    return {"setup": setup, "kinds": kinds, "runs": runs, "index": index}


def _by_operation(run: Run, operations: list[str]) -> str:
    return ", ".join(f"{name} {run.dynamodb[name] / run.uploads:.2f}" for name in operations if run.dynamodb[name])


def section(figures: dict[str, Any]) -> str:
    setup: Setup = figures["setup"]
    runs: list[Run] = figures["runs"]
    kinds: Counter[str] = figures["kinds"]
    index: IndexFigures = figures["index"]
    operations = sorted({name for run in runs for name in run.dynamodb})
    off = runs[0]
    rows = []
    for run in runs:
        requests = sum(run.dynamodb.values())
        rows.append(
            (
                run.label,
                run.uploads,
                run.imagga_calls,
                f"{run.imagga_calls / run.uploads:.2f}",
                f"{run.per_second:.2f}",
                f"{run.per_second / off.per_second:.2f}x",
                f"{requests / run.uploads:.2f} ("
                + ", ".join(
                    f"{name} {run.dynamodb[name] / run.uploads:.2f}" for name in operations if run.dynamodb[name]
                )
                + ")",
                f"{run.near_copies_quarantined} of {run.near_copies}",
            )
        )
    on, slow = runs[1], runs[2]
    extra_requests = (sum(on.dynamodb.values()) - sum(off.dynamodb.values())) / on.uploads
    perfect = kinds["new"]
    return (
        f"### Content memory: what it saves (emulator {setup.latency * 1000:.0f} ms per request, "
        f"concurrency limit {setup.limit})\n\n"
        + table(
            (
                "memory",
                "uploads",
                "Imagga calls",
                "calls / upload",
                "uploads/s",
                "vs off",
                "DynamoDB requests / upload (by operation)",
                "near-copies quarantined as matches-rejected",
            ),
            rows,
        )
        + f"\n\nThe same {on.uploads} uploads in each run, photographs of "
        f"{setup.megapixels:g} MP (JPEG): {kinds['new']} seen for the first time, {kinds['repeat']} repeating "
        f"the bytes of one uploaded at least {setup.min_gap} places earlier, {kinds['near-copy']} near-copies "
        f"(half size, JPEG quality 50, cropped 5 %, brightness ±20 %) of {setup.rejected} photographs a "
        f"moderator rejected before the run. With the memory on, the least Imagga can be asked is once per new "
        f"photograph ({perfect}); {on.imagga_calls - perfect} more were asked (a repeat handled while its "
        f"original was still with Imagga: two pollers work at once). Every upload ended with a "
        f"status: {sum(r.labelled for r in runs)} of {sum(r.uploads for r in runs)}.\n\n"
        f"The memory adds {extra_requests:.2f} DynamoDB requests per upload: one BatchGetItem for the bytes' "
        f"remembered scores and rejection, one for the four index items of the near-copy check, and a PutItem "
        f"for the scores Imagga gives (the other requests are the idempotency record, the approval look-up and "
        f"the ledger entry, there with the memory off too). The emulator answers them in about a millisecond; "
        f"AWS's in-region DynamoDB takes a few. With {setup.dynamodb_latency * 1000:.0f} ms added to every "
        f"DynamoDB request (all of them, not only the memory's), throughput is {slow.per_second:.2f} uploads/s "
        f"against {on.per_second:.2f}: an upload's requests run one after another, "
        f"{sum(slow.dynamodb.values()) / slow.uploads:.1f} of them, about "
        f"{sum(slow.dynamodb.values()) / slow.uploads * setup.dynamodb_latency * 1000:.0f} ms per upload, "
        f"against {setup.latency * 1000:.0f} ms for each Imagga call saved.\n\n"
        f"**The near-copy index at {index.images:,} rejected images** (simulated from the hashes the sample "
        f"photos are really indexed by: {index.hashes_per_image:.1f} hashes per image, {index.hashes:,} in all): "
        f"a look-up is one BatchGetItem of 4 items holding {index.entries_per_item_mean:.1f} entries each on "
        f"average (at most {index.entries_per_item_max}), {index.bytes_per_lookup_mean / 1024:.1f} KiB in all "
        f"({index.candidates_mean:.0f} candidates); comparing them bit by bit takes "
        f"{index.cpu_us_median:.0f} µs of CPU (median of {index.near_tried:,}). Near-copies within 3 bits of a "
        f"rejected image's own hash found: {index.near_found:,} of {index.near_tried:,}; random hashes taken "
        f"for a rejected image: {index.false_matches} of {index.near_tried:,}."
    )


def main() -> None:
    from moderator.observability import quiet_for_command_line

    quiet_for_command_line()
    print(section(run()))


if __name__ == "__main__":
    main()
