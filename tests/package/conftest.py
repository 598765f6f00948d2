"""The package `sam build` makes (no Docker), built once per test session for each architecture.

- `arm64_package`: `sam build` of template.yaml as it is (python3.13 / arm64).
- `x86_64_package`: the same sources next to a copy of the template that says x86_64, so the
  package can be loaded and run on this machine (native code runs only on its own architecture).
- `native_package`: whichever of the two this machine can run.
- `runtime_python`: python3.13 with AWS's runtime interface client (`.venv-runtime`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from infra.local.lambda_package import machine_architecture, runtime_python_environment
from infra.local.lambda_runtime import RUNTIME_PYTHON

from tests.template.conftest import NO_SAM, ROOT, SAM, TEMPLATE

RUNTIME = "3.13"
NO_RUNTIME = f"python{RUNTIME} (the function's runtime) is not installed: sam build needs it without Docker"
NO_RUNTIME_CLIENT = "the runtime interface client is not installed in .venv-runtime (`make test` installs it)"
ARM64_TEMPLATE_LINE = "Architectures: [arm64]"


def sam_build(template: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(template),
            "--build-dir",
            str(out / "build"),
            "--cache-dir",
            str(out / "cache"),
            "--no-cached",
        ],
        cwd=template.parent,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def runtime_env() -> dict[str, str]:
    if not SAM.exists():
        pytest.skip(NO_SAM)
    env = runtime_python_environment(RUNTIME)
    if env is None:
        pytest.skip(NO_RUNTIME)
    return env


@pytest.fixture(scope="session")
def arm64_package(runtime_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam-build-arm64")
    result = sam_build(TEMPLATE, out, runtime_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "build" / "ModeratorFunction"


@pytest.fixture(scope="session")
def x86_64_package(runtime_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's sources beside a template that says x86_64: the Makefile reads the template it sits by."""
    source = tmp_path_factory.mktemp("x86_64-source")
    shutil.copytree(ROOT / "functions", source / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "constraints.txt", source / "constraints.txt")
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(ARM64_TEMPLATE_LINE) == 1, "the template names its architecture once, in Globals"
    (source / "template.yaml").write_text(text.replace(ARM64_TEMPLATE_LINE, "Architectures: [x86_64]"), "utf-8")
    out = tmp_path_factory.mktemp("sam-build-x86_64")
    result = sam_build(source / "template.yaml", out, runtime_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "build" / "ModeratorFunction"


@pytest.fixture(scope="session")
def native_package(request: pytest.FixtureRequest) -> Path:
    package: Path = request.getfixturevalue(f"{machine_architecture()}_package")
    return package


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    if not RUNTIME_PYTHON.exists():
        pytest.skip(NO_RUNTIME_CLIENT)
    return RUNTIME_PYTHON
