"""Run in a fresh process by the benchmarks: peak memory of one large image, cold vs warm invocation.

Uses moto (in-process) for S3 and a tiny local HTTP server answering like Imagga, so only the
function's own work is measured. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ANSWER = json.dumps(
    {
        "result": {
            "categories": [{"confidence": 99.0, "name": {"en": "safe"}}, {"confidence": 1.0, "name": {"en": "nsfw"}}]
        },
        "status": {"text": "", "type": "success"},
    }
).encode()


class _Imagga(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args: Any) -> None:
        return None


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def _status_mib(field: str) -> float:
    """VmRSS / VmHWM from /proc (getrusage's peak survives exec, so it would show the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _event(bucket: str, key: str) -> dict[str, Any]:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    return {"Records": [record]}


def main(big_path: str, fmt: str) -> None:
    """`big_path`: an image made by the parent process, so making it costs this one no memory."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Imagga)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        IMAGGA_API_ENDPOINT=f"http://127.0.0.1:{server.server_port}/v2",
        IMAGGA_API_KEY="bench-key",
        IMAGGA_API_SECRET="bench-secret",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    import boto3
    from moto import mock_aws

    big = Path(big_path).read_bytes()
    small = Path(big_path + ".small").read_bytes()
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench-bucket")
        for key, data in (("incoming/small-1.jpg", small), ("incoming/small-2.jpg", small), ("incoming/big.jpg", big)):
            s3.put_object(Bucket="bench-bucket", Key=key, Body=data)
        from moderator.app import lambda_handler

        started = time.perf_counter()
        lambda_handler(_event("bench-bucket", "incoming/small-1.jpg"), _Context())
        first_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        lambda_handler(_event("bench-bucket", "incoming/small-2.jpg"), _Context())
        warm_ms = (time.perf_counter() - started) * 1000
        # moto holds the bucket's bytes in this process: the baseline includes them.
        _reset_peak()
        baseline = _status_mib("VmRSS")
        lambda_handler(_event("bench-bucket", "incoming/big.jpg"), _Context())
        peak = _status_mib("VmHWM")
    server.shutdown()
    print(
        json.dumps(
            {
                "format": fmt,
                "big_image_mib": round(len(big) / 2**20, 1),
                "rss_before_mib": round(baseline, 1),
                "rss_peak_mib": round(peak, 1),
                "rss_growth_mib": round(peak - baseline, 1),
                "first_invocation_ms": round(first_ms, 1),
                "warm_invocation_ms": round(warm_ms, 1),
            }
        )
    )
