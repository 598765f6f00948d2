"""`sam validate --lint` and `cfn-lint` accept the template with no error and no warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, TEMPLATE, tool_environment

pytestmark = pytest.mark.template


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=tool_environment(), check=False
    )


def test_sam_validate_with_lint_accepts_the_template(sam: Path) -> None:
    # GIVEN the SAM CLI, offline, no credentials needed
    # WHEN it validates and lints the template
    result = run([str(sam), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)])

    # THEN it is valid and no rule matched
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.parametrize("venv", [Path(sys.executable).parent, ROOT / ".venv-sam" / "bin"], ids=["dev", "sam"])
def test_cfn_lint_reports_nothing(venv: Path) -> None:
    # GIVEN cfn-lint (the dev tools' and the one the SAM CLI brings)
    cfn_lint = venv / "cfn-lint"
    if not cfn_lint.exists():
        pytest.skip(f"no cfn-lint in {venv}")

    # WHEN it lints the template (exit 2 means errors, 4 warnings, 8 informational)
    result = run([str(cfn_lint), "--include-checks", "I", "--", str(TEMPLATE)])

    # THEN it reports nothing at all
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr
