"""Cold start of the package Lambda runs, under AWS's runtime interface client, next to a floor.

Every variant is built for this machine's architecture by `functions/build_package.py` (what
`sam build` runs) and started as Lambda starts it: `python3.13 -m awslambdaric` with the
environment Lambda sets, `PYTHONPATH` = the package, no bytecode writing, events from a Runtime
API on 127.0.0.1 (`infra/local/lambda_runtime.py`). S3, DynamoDB and Secrets Manager are the
local stack's moto server; Imagga is the emulator, answering fixed scores (no model time).

- **floor**: a handler that imports boto3 and, at its first invocation, creates one S3 client,
  packaged the same way (`infra/bench/floor/floor.py`);
- **function**: the package `sam build` makes;
- **function, boto3 from the runtime**: the same without boto3, botocore, s3transfer, jmespath,
  dateutil and six, taken instead from a folder standing for the runtime's (same versions,
  byte-compiled) after the package on the path;
- **function, no .pyc**: the package without byte-compiling;
- **before**: packaged as SAM's default Python builder did: the whole `functions/` folder and
  the dependencies, no `.pyc` (today's code).

Each round starts every variant once (interleaved, so the machine's load falls on all alike):
process start → first `GET /next` is the init; the first invocation is one SQS message (a new
12 MP JPEG, its S3 notification taken from the queue); a second message makes the warm one.

    python -m infra.bench.cold_start [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.event_source import lambda_sqs_record
from infra.local.lambda_package import (
    PackageSize,
    build_package,
    machine_architecture,
    package_size,
    runtime_python_environment,
)
from infra.local.lambda_runtime import RUNTIME_PYTHON, FunctionProcess, RuntimeApi, template_function_environment
from infra.local.stack import LocalStack

from .photos import photo
from .report import goal, table

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
FLOOR = Path(__file__).resolve().parent / "floor"
#: What Lambda's python3.13 runtime brings of the SDK (and what it needs): left out of one variant.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six")
SAFE_SCORES = {"safe": 98.5, "nsfw": 1.5}
INIT_GOAL_RATIO = 1.5
FIRST_INVOCATION_GOAL_MS = 1000.0


@dataclass
class Variant:
    name: str
    package: Path
    handler: str = "moderator.app.lambda_handler"
    runtime_path: tuple[Path, ...] = ()
    size: PackageSize | None = None
    init_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _pins(names: tuple[str, ...]) -> str:
    """The lines of functions/requirements.txt that pin these distributions."""
    lines = (FUNCTIONS / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if line.split("==")[0].strip().lower() in names) + "\n"


def _build_before(target: Path, env: dict[str, str], architecture: str, empty: Path) -> None:
    """As SAM's default Python builder packed it: the dependencies as pip installs them, the whole folder."""
    build_package(
        target,
        env,
        "--architecture",
        architecture,
        "--source",
        str(empty),
        "--handler-module",
        "none",
        "--no-compile",
        "--no-prune",
    )
    shutil.copytree(
        FUNCTIONS,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "Makefile", "build_package.py"),
    )


def build_variants(scratch: Path, env: dict[str, str]) -> list[Variant]:
    architecture = machine_architecture()
    arch = ("--architecture", architecture)
    empty = scratch / "empty"
    empty.mkdir()
    boto3_only = scratch / "boto3-requirements.txt"
    boto3_only.write_text(_pins(("boto3", "botocore")), encoding="utf-8")
    build_package(
        scratch / "floor",
        env,
        *arch,
        "--requirements",
        str(boto3_only),
        "--source",
        str(FLOOR),
        "--handler-module",
        "floor",
    )
    build_package(scratch / "function", env, *arch)
    leave_out = [option for name in RUNTIME_SDK for option in ("--leave-out", name)]
    build_package(scratch / "function-slim", env, *arch, *leave_out)
    # The runtime's SDK: the same pins, byte-compiled, no handler of its own.
    build_package(
        scratch / "runtime-sdk",
        env,
        *arch,
        "--requirements",
        str(boto3_only),
        "--source",
        str(empty),
        "--handler-module",
        "none",
    )
    build_package(scratch / "function-no-pyc", env, *arch, "--no-compile")
    _build_before(scratch / "before", env, architecture, empty)
    return [
        Variant("floor (boto3 + one S3 client)", scratch / "floor", handler="floor.handler"),
        Variant("function", scratch / "function"),
        Variant("function, boto3 from the runtime", scratch / "function-slim", runtime_path=(scratch / "runtime-sdk",)),
        Variant("function, no .pyc", scratch / "function-no-pyc"),
        Variant("before: SAM's default builder (whole functions/, no .pyc)", scratch / "before"),
    ]


def arm64_sizes(scratch: Path, env: dict[str, str]) -> dict[str, PackageSize]:
    """What template.yaml deploys (arm64): the package now, and as SAM's default builder packed it."""
    sizes = {}
    for name in ("function", "before"):
        target = scratch / f"arm64-{name}"
        if name == "function":
            build_package(target, env, "--architecture", "arm64")
        else:
            _build_before(target, env, "arm64", scratch / "empty")
        sizes[name] = package_size(target, scratch)
        shutil.rmtree(target)
    return sizes


def _message_for(stack: LocalStack, key: str, timeout: float = 20) -> dict[str, Any]:
    sqs = stack.boto3_client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", []):
            records = json.loads(message["Body"]).get("Records") or []
            if any(r["s3"]["object"]["key"].replace("%2F", "/") == key for r in records):
                return {"Records": [lambda_sqs_record(message, stack.queue_arn, stack.region)]}
    raise TimeoutError(f"no S3 notification for {key}")


def one_cold_start(stack: LocalStack, variant: Variant, image: bytes, number: int) -> None:
    # Bytes never uploaded before (a few after the JPEG's end, which decoders ignore), as a new photo
    # is: the content memory must not decide them from an earlier round's scores.
    uploads = [image + f"cold-start {number}-{i}".encode() for i in range(2)]
    events = [_message_for(stack, stack.upload(f"cold-start/{number}-{i}.jpg", data)) for i, data in enumerate(uploads)]
    env = template_function_environment(stack.function_env())
    with (
        RuntimeApi(stack.function_name, trace_daemon=True) as api,
        FunctionProcess(variant.package, api, env, handler=variant.handler, runtime_path=variant.runtime_path) as fn,
    ):
        first_next = api.wait_for_next(1)
        first, warm = api.invoke(events[0]), api.invoke(events[1])
    for result in (first, warm):
        if result.error is not None or (result.response or {}).get("batchItemFailures"):
            variant.failures.append(str(result.error or result.response))
    assert fn.started_at is not None
    variant.init_ms.append((first_next - fn.started_at) * 1000)
    variant.first_ms.append(first.duration_ms)
    variant.warm_ms.append(warm.duration_ms)


def run(rounds: int = 7, progress: Callable[[str], None] = print) -> dict[str, Any]:
    env = runtime_python_environment()
    if env is None or not RUNTIME_PYTHON.exists():
        raise SystemExit("the cold-start benchmark needs python3.13 and .venv-runtime (make bench installs it)")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        scratch = Path(tmp)
        progress("cold start: building the packages")
        variants = build_variants(scratch, env)
        for variant in variants:
            variant.size = package_size(variant.package, scratch)
        arm64 = arm64_sizes(scratch, env)
        image = photo(12, seed=12)
        with LocalStack(start_pollers=False) as stack:
            stack.register_fixed_scores(image, SAFE_SCORES)
            for number in range(rounds):
                progress(f"cold start: round {number + 1} of {rounds}")
                for index, variant in enumerate(variants):
                    one_cold_start(stack, variant, image, number * len(variants) + index)
    return {"rounds": rounds, "variants": variants, "image_bytes": len(image), "arm64": arm64}


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms ({min(values):.0f}-{max(values):.0f})"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def section(figures: dict[str, Any]) -> str:
    variants: list[Variant] = figures["variants"]
    floor, function = variants[0], variants[1]
    rows = []
    for variant in variants:
        assert variant.size is not None
        rows.append(
            (
                variant.name,
                _mib(variant.size.unzipped_bytes),
                _mib(variant.size.zipped_bytes),
                variant.size.files,
                _ms(variant.init_ms),
                _ms(variant.first_ms),
                _ms(variant.warm_ms),
            )
        )
    init, floor_init = statistics.median(function.init_ms), statistics.median(floor.init_ms)
    first, floor_first = statistics.median(function.first_ms), statistics.median(floor.first_ms)
    failures = [f"{v.name}: {f}" for v in variants for f in v.failures]
    arm64: dict[str, PackageSize] = figures["arm64"]
    deployed = (
        f"For arm64, what template.yaml deploys: {_mib(arm64['function'].unzipped_bytes)} unzipped, "
        f"{_mib(arm64['function'].zipped_bytes)} zipped ({arm64['function'].files} files); packed as SAM's "
        f"default builder did, {_mib(arm64['before'].unzipped_bytes)} and {_mib(arm64['before'].zipped_bytes)} "
        f"({arm64['before'].files} files)."
    )
    return (
        f"### Cold start under AWS's runtime interface client ({figures['rounds']} rounds, medians (min-max))\n\n"
        + table(
            (
                "package",
                "unzipped",
                "zipped",
                "files",
                "process start → first /next",
                "first invocation (one SQS message)",
                "warm invocation",
            ),
            rows,
        )
        + f"\n\nGoals: process start → first `/next` at most {INIT_GOAL_RATIO:g}x the floor's — "
        f"{init:.0f} ms = {init / floor_init:.2f}x {floor_init:.0f} ms, "
        f"{goal(init, INIT_GOAL_RATIO * floor_init)}. First invocation at most "
        f"{FIRST_INVOCATION_GOAL_MS / 1000:g} s — {first:.0f} ms, {goal(first, FIRST_INVOCATION_GOAL_MS)}; "
        f"{first / floor_first:.1f}x the floor's ({floor_first:.0f} ms, which only creates its S3 client)."
        + f"\n\n{deployed}"
        + (f"\n\nFailed invocations: {'; '.join(failures)}" if failures else "")
        + f"\n\nThe image is a {figures['image_bytes'] / 2**20:.2f} MiB 12 MP JPEG, uploaded to moto and "
        "announced on SQS; the function fetches the Imagga secret, reads the image, asks the content memory "
        "(nothing remembered: every upload's bytes are new), downscales and sends the image, tags it and writes "
        "the idempotency record, Imagga's scores, the ledger entry and the EventBridge event, all to 127.0.0.1. Every "
        "process starts from files in the page cache; Lambda also downloads and unpacks the zip first."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(section(run(args.rounds)))


if __name__ == "__main__":
    main()
