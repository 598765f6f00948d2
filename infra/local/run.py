"""`make local`: keep the local stack running in the foreground and show each verdict as it lands.

Upload with the AWS CLI (`--endpoint-url`, printed at start); Ctrl-C (SIGINT) or SIGTERM stops
every thread and server cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time

from .console import commands, describe, quiet_function_logs, score_text
from .localstack_server import LocalStackServer
from .stack import BACKENDS, LocalStack


def watch(stack: LocalStack, stop: threading.Event, interval: float = 1.0) -> None:
    """Print each object whose moderation status appears or changes."""
    s3 = stack.boto3_client("s3")
    seen: dict[str, tuple[str, str]] = {}
    while not stop.wait(interval):
        try:
            keys = [
                item["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
                for item in page.get("Contents", [])
            ]
            for key in keys:
                found = stack.object_status(key)
                if not found.status:
                    continue
                state = (found.status, found.location)
                original = key.removeprefix(stack.quarantine_prefix)
                if seen.get(original) != state:
                    seen[original] = state
                    print(f"  {found.status:<11} {key}   {score_text(found)}", flush=True)
        except Exception as exc:  # a failed listing must not end the watcher while the stack runs
            if not stop.is_set():
                print(f"  (watch: {exc})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local stack until Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="the AWS endpoint's port (default: a free one)")
    parser.add_argument("--backend", choices=BACKENDS, default="moto", help="the AWS emulator (default: %(default)s)")
    parser.add_argument("--bucket", default="moderation-local", help="bucket name (default: %(default)s)")
    parser.add_argument("--categorizer", default="nsfw_beta", choices=("nsfw_beta", "adult_content"))
    args = parser.parse_args(argv)
    quiet_function_logs()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    started = time.monotonic()
    with contextlib.ExitStack() as running:
        localstack = None
        if args.backend == "localstack":
            localstack = running.enter_context(LocalStackServer(port=args.port))
        stack = running.enter_context(
            LocalStack(
                name=args.bucket,
                moto_port=0 if localstack else args.port,
                categorizer=args.categorizer,
                backend=args.backend,
                localstack=localstack,
            )
        )
        print(f"Local stack ready in {time.monotonic() - started:.1f}s\n{describe(stack)}\n")
        print(f"Paste these in another terminal:\n{commands(stack)}\n")
        print(
            "The labelled quarantine sample (fixed high nsfw scores): "
            "infra/local/samples/demo-unsafe-sample.png\nCtrl-C stops everything. Verdicts as they land:",
            flush=True,
        )
        watcher = threading.Thread(target=watch, args=(stack, stop), name="watch", daemon=True)
        watcher.start()
        stop.wait()
        print("\nStopping...", flush=True)
        watcher.join(timeout=5)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
