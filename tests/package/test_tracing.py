"""The Tracer patches what the function calls through, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT

PROBE = """
import json, sys
from moderator.observability import tracer
tracer()
from aws_xray_sdk.core import patcher
others = ("sqlite3", "httpx", "pymongo", "psycopg2", "pynamodb")
print(json.dumps({"patched": sorted(patcher._PATCHED_MODULES), "imported": [m for m in others if m in sys.modules]}))
"""


def test_tracer_patches_only_botocore_and_requests_in_lambda() -> None:
    # GIVEN a fresh process that looks like Lambda to Powertools (LAMBDA_TASK_ROOT set, tracing on)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'functions'}",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "moderator",
        "AWS_REGION": "us-east-1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }

    # WHEN the function's tracer is built, as the first invocation builds it
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    # THEN X-Ray patched botocore (boto3's calls) and requests (Imagga's), and imported no other library to patch it
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"patched": ["botocore", "requests"], "imported": []}
