"""Figures that need no stack: preparing an image, bytes sent, memory.

Each figure is a median over repeated runs. Run through `make bench`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moderator.imaging import prepare

from .photos import photo

ROOT = Path(__file__).resolve().parents[2]


def median_cpu_ms(data: bytes, repeats: int, short_side: int = 600) -> float:
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        prepare(data, short_side=short_side, max_pixels=200_000_000)
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def prepare_costs(repeats: int = 5) -> list[dict[str, object]]:
    rows = []
    for megapixels in (1, 12, 48):
        for fmt in ("JPEG", "PNG"):
            data = photo(megapixels, seed=megapixels, fmt=fmt)
            runs = repeats if megapixels < 48 else max(2, repeats // 2)
            prepared = prepare(data, short_side=600, max_pixels=200_000_000)
            rows.append(
                {
                    "image": f"{megapixels} MP {fmt}",
                    "original_bytes": len(data),
                    "sent_bytes": len(prepared.data),
                    "sent_ratio_pct": round(100 * len(prepared.data) / len(data), 2),
                    "cpu_ms_median": round(median_cpu_ms(data, runs), 1),
                    "runs": runs,
                }
            )
    return rows


def _python(code: str) -> str:
    env_path = f"{ROOT / 'functions'}:{ROOT}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    return result.stdout.strip().splitlines()[-1]


def big_image(fmt: str) -> bytes:
    """About 24 MiB, just under the default MAX_IMAGE_BYTES: a 40 MP JPEG or a 13 MP PNG."""
    if fmt == "PNG":
        return photo(13, seed=7, fmt="PNG")
    return photo(40, seed=7, quality=97, noise=10)


def memory_probe(fmt: str) -> dict[str, object]:
    """A fresh process each: peak RSS of one ~24 MiB image."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"big.{fmt.lower()}"
        path.write_bytes(big_image(fmt))
        Path(str(path) + ".small").write_bytes(photo(1, seed=8))
        return dict(json.loads(_python(f"from infra.bench.probe import main; main({str(path)!r}, {fmt!r})")))


def run() -> dict[str, object]:
    return {
        "prepare": prepare_costs(),
        "probes": [memory_probe("JPEG"), memory_probe("PNG")],
    }
