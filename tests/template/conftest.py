"""Template fixtures: the SAM CLI's virtualenv, and template.yaml rendered by the SAM transform."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_VENV = ROOT / ".venv-sam"
SAM = SAM_VENV / "bin" / "sam"
SAM_PYTHON = SAM_VENV / "bin" / "python"
RENDER = Path(__file__).with_name("render.py")
NO_SAM = "the SAM CLI is not installed in .venv-sam (`make test` installs it from infra/sam-requirements.txt)"


def tool_environment() -> dict[str, str]:
    """The linters and SAM run offline, without telemetry, with obviously fake credentials."""
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


@cache
def _render(template_text: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(SAM_PYTHON), str(RENDER), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=tool_environment(),
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"the SAM transform failed:\n{result.stderr}")
    rendered: dict[str, Any] = json.loads(result.stdout)
    return rendered


@pytest.fixture(scope="session")
def sam() -> Path:
    if not SAM.exists():
        pytest.skip(NO_SAM)
    return SAM


@pytest.fixture(scope="session")
def rendered(sam: Path) -> dict[str, Any]:
    """template.yaml after the SAM transform: plain CloudFormation, conditions still in it."""
    return _render(TEMPLATE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def source_template() -> dict[str, Any]:
    """template.yaml as written (short-form intrinsics expanded), before the SAM transform."""
    from cfnlint.decode import cfn_yaml

    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return loaded
