"""`make bench`: print every benchmark figure as one report and write it to docs/benchmarks.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import micro
from .report import goal, machine, table

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "benchmarks.md"


def micro_sections(figures: dict[str, Any]) -> list[str]:
    prepare_rows = [
        (
            r["image"],
            f"{r['original_bytes'] / 2**20:.2f} MiB",
            f"{r['sent_bytes'] / 1024:.0f} KiB",
            f"{r['sent_ratio_pct']} %",
            f"{r['cpu_ms_median']} ms",
            r["runs"],
        )
        for r in figures["prepare"]
    ]
    twelve_jpeg = next(r for r in figures["prepare"] if r["image"] == "12 MP JPEG")
    twelve = [r for r in figures["prepare"] if r["image"].startswith("12 MP")]
    probe_rows = []
    for probe in figures["probes"]:
        limit = 2 * probe["big_image_mib"] + 100
        probe_rows.append(
            (
                f"{probe['big_image_mib']} MiB {probe['format']}",
                f"{probe['rss_growth_mib']} MiB (peak {probe['rss_peak_mib']} MiB)",
                f"< {limit:.0f} MiB: {goal(probe['rss_growth_mib'], limit)}",
            )
        )
    first = figures["probes"][0]
    return [
        "### Preparing an image (decode, orient, downscale to 600 px, encode JPEG)\n\n"
        + table(("image", "original", "sent", "sent / original", "CPU (median)", "runs"), prepare_rows)
        + f"\n\nGoal: 12 MP JPEG under 60 ms — {twelve_jpeg['cpu_ms_median']} ms, "
        f"{goal(twelve_jpeg['cpu_ms_median'], 60)}. Bytes sent for 12 MP under 5 % of the original — "
        + ", ".join(f"{r['image']}: {r['sent_ratio_pct']} % ({goal(r['sent_ratio_pct'], 5)})" for r in twelve)
        + ".",
        "### Memory: moderating one large image (fresh process, S3 in moto, a local Imagga stand-in)\n\n"
        + table(("image", "RSS growth while moderating", "goal (2x image + 100 MiB)"), probe_rows),
        "### Cold start\n\n"
        + table(
            ("figure", "value", "goal"),
            [
                (
                    "import of moderator.app (`python -X importtime`, median of 5)",
                    f"{figures['import_ms']} ms",
                    f"< 300 ms: {goal(figures['import_ms'], 300)}",
                ),
                ("first invocation (builds clients, loads Pillow)", f"{first['first_invocation_ms']} ms", ""),
                ("warm invocation (same container)", f"{first['warm_invocation_ms']} ms", ""),
            ],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    sections = [f"# Benchmarks\n\nMachine: {machine()}. Reproduce with `make bench`.", *micro_sections(micro.run())]
    report = "\n\n".join(sections) + "\n"
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"written to {args.output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
