"""`make bench`: print every benchmark figure as one report and write it to docs/benchmarks.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import cold_start, memory, micro, throughput
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
    return [
        "### Preparing an image (decode, orient, downscale to 600 px, encode JPEG)\n\n"
        + table(("image", "original", "sent", "sent / original", "CPU (median)", "runs"), prepare_rows)
        + f"\n\nGoal: 12 MP JPEG under 60 ms — {twelve_jpeg['cpu_ms_median']} ms, "
        f"{goal(twelve_jpeg['cpu_ms_median'], 60)}. Bytes sent for 12 MP under 5 % of the original — "
        + ", ".join(f"{r['image']}: {r['sent_ratio_pct']} % ({goal(r['sent_ratio_pct'], 5)})" for r in twelve)
        + ".",
        "### Memory: moderating one large image (fresh process, S3 in moto, a local Imagga stand-in)\n\n"
        + table(("image", "RSS growth while moderating", "goal (2x image + 100 MiB)"), probe_rows),
    ]


def _per_image(run: throughput.Run) -> tuple[str, str]:
    requests = sum(run.requests.values())
    return f"{(requests - run.retries) / run.images:.2f}", f"{run.retries / run.images:.2f}"


def throughput_section(figures: dict[str, Any], micro_figures: dict[str, Any]) -> str:
    setup: throughput.Setup = figures["setup"]
    runs: dict[str, list[throughput.Run]] = figures["runs"]
    limit = setup.limit_calls_per_second
    seed = throughput.median_rate(runs["seed"])
    sizes = figures["bytes"]
    original = f"{sizes['original'] / 2**20:.2f} MiB"
    sent = f"{sizes['sent'] / 1024:.0f} KiB"
    rows = []
    described = {
        "seed": ("the seed's batch script: one at a time, full upload + categorize, new connection each", original),
        "scan": (f"`scan DIR OUTDIR --concurrency {setup.limit}` (a subprocess; start-up included)", sent),
        "function": (
            f"the function: S3 → SQS → event source mapping, {setup.limit} pollers, batch "
            f"{figures['batch_size']}, direct mode",
            sent,
        ),
    }
    for name, (label, bytes_sent) in described.items():
        rate = throughput.median_rate(runs[name])
        share = 100 * rate / limit
        paid, retries = _per_image(runs[name][0])
        verdict = f"≥ 90 %: {goal(share, 90, below=False)}" if name != "seed" else ""
        rows.append(
            (
                label,
                runs[name][0].images,
                len(runs[name]),
                f"{rate:.2f}",
                f"{rate / seed:.1f}x",
                f"{share:.0f} %",
                paid,
                retries,
                bytes_sent,
                verdict,
            )
        )
    upload = figures["upload_mode"]
    paid, retries = _per_image(upload)
    rows.append(
        (
            "the function, `IMAGGA_UPLOAD_MODE=upload` (upload, categorize, delete)",
            upload.images,
            1,
            f"{upload.per_second:.2f}",
            f"{upload.per_second / seed:.1f}x",
            f"{100 * upload.per_second / limit:.0f} %",
            paid,
            retries,
            sent,
            "",
        )
    )
    labelled = [r.labelled for r in runs["function"]] + [upload.labelled]
    twelve = {r["image"]: r for r in micro_figures["prepare"] if r["image"].startswith("12 MP")}
    bytes_line = ", ".join(
        f"{name}: {r['original_bytes'] / 2**20:.2f} MiB → {r['sent_bytes'] / 1024:.0f} KiB ({r['sent_ratio_pct']} %)"
        for name, r in twelve.items()
    )
    return (
        f"### Throughput against the Imagga emulator ({setup.latency * 1000:.0f} ms per request, "
        f"concurrency limit {setup.limit})\n\n"
        + table(
            (
                "approach",
                "images",
                "runs",
                "images/s (median)",
                "vs seed script",
                f"of the server's limit ({limit:.1f}/s)",
                "Imagga requests / image",
                "retries / image",
                "bytes sent / image",
                "goal",
            ),
            rows,
        )
        + f"\n\nThe same {setup.images} photographs of {setup.megapixels:g} MP (JPEG, about {original} each; "
        f"the seed script takes the first {setup.baseline_images}, the upload-mode run the first "
        f"{setup.upload_mode_images}), made once for the run. The emulator answers fixed scores, so a request "
        f"costs {setup.latency * 1000:.0f} ms and the server allows {setup.limit} / {setup.latency:g} s = "
        f"{limit:.1f} requests per second. Requests and retries are counted in the emulator's request log "
        f"(an answer other than 200 is a retry). Every image the function handled ended with a status: "
        f"{sum(labelled)} of {sum(r.images for r in runs['function']) + upload.images}. "
        f"Bytes sent for a 12 MP photo (from the preparation table): {bytes_line}; the seed script sends the original."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--images", type=int, default=throughput.Setup.images)
    parser.add_argument("--repeats", type=int, default=throughput.Setup.repeats)
    parser.add_argument("--cold-start-rounds", type=int, default=7)
    args = parser.parse_args()
    from moderator.observability import quiet_for_command_line

    quiet_for_command_line()  # the function's log lines would bury the figures
    micro_figures = micro.run()
    print("throughput (about 6 minutes):", flush=True)
    setup = throughput.Setup(images=args.images, repeats=args.repeats)
    throughput_figures = throughput.run(setup)
    print("content memory, off and on (about 5 minutes):", flush=True)
    memory_figures = memory.run()
    cold_start_figures = cold_start.run(args.cold_start_rounds)
    sections = [
        f"# Benchmarks\n\nMachine: {machine()}. Reproduce with `make bench`.",
        throughput_section(throughput_figures, micro_figures),
        memory.section(memory_figures),
        *micro_sections(micro_figures),
        cold_start.section(cold_start_figures),
    ]
    report = "\n\n".join(sections) + "\n"
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
