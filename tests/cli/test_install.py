"""The operator tools install the normal way: the project's wheel, `pip install`ed into a fresh virtualenv.

pip fetches the dependencies from PyPI (through the machine's pip cache); the command then runs
as an operator runs it, against the Imagga emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra.local.imagga_emulator import TEST_API_KEY, TEST_API_SECRET, ImaggaEmulator
from infra.local.stack import SAMPLES

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("imagga_s3_moderator-*.whl")
    return built


def fresh_virtualenv(where: Path, requirement: str) -> Path:
    """A new virtualenv with `pip install REQUIREMENT` done in it; its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    result = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return where / "bin"


@pytest.fixture(scope="module")
def imagga() -> Iterator[ImaggaEmulator]:
    with ImaggaEmulator(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET) as emulator:
        yield emulator


def operator_env(imagga: ImaggaEmulator) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "IMAGGA_API_KEY": TEST_API_KEY,
        "IMAGGA_API_SECRET": TEST_API_SECRET,
        "IMAGGA_API_ENDPOINT": imagga.url,
        "COLUMNS": "200",
    }


def run(bin_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_pip_install_with_the_cli_extra_gives_a_working_imagga_moderator(
    wheel: Path, imagga: ImaggaEmulator, tmp_path: Path
) -> None:
    # GIVEN the wheel installed with its `cli` extra in a fresh virtualenv
    bin_dir = fresh_virtualenv(tmp_path / "venv", f"{wheel}[cli]")
    env = operator_env(imagga)

    # WHEN an operator asks for help, checks a photograph, and the review page's modules are loaded
    help_result = run(bin_dir, env, "imagga-moderator", "--help")
    check = run(bin_dir, env, "imagga-moderator", "check", "--json", str(SAMPLES / "coffee.jpg"))
    review = run(
        bin_dir,
        env,
        "python",
        "-c",
        "import importlib.resources, moderator.web.app; web = importlib.resources.files('moderator.web'); "
        "print(sorted(f'{d}/{p.name}' for d in ('templates', 'static') for p in web.joinpath(d).iterdir()))",
    )

    # THEN every command is listed, the photograph gets Imagga's (the emulator's) scores and a verdict,
    # and the review page has what it needs
    assert help_result.returncode == 0, help_result.stderr
    for command in ("check", "scan", "backfill", "quarantine", "tags", "review"):
        assert command in help_result.stdout
    assert check.returncode == 0, check.stderr
    answer = json.loads(check.stdout)
    assert answer["status"] == "SAFE" and answer["scores"]["safe"] > answer["scores"]["nsfw"]
    assert imagga.count("/v2/categories/", answered=200) >= 1
    assert review.returncode == 0, review.stderr
    web = ROOT / "functions" / "moderator" / "web"
    shipped = sorted(f"{d}/{p.name}" for d in ("templates", "static") for p in (web / d).iterdir())
    assert review.stdout.strip() == str(shipped)


def test_pip_install_without_the_extra_says_how_to_get_the_command_line(wheel: Path, tmp_path: Path) -> None:
    # GIVEN the wheel installed alone (what the function needs, not the command line's dependencies)
    bin_dir = fresh_virtualenv(tmp_path / "venv", str(wheel))

    # WHEN an operator runs the command
    result = run(bin_dir, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "imagga-moderator", "--help")

    # THEN it stops with one line saying which extra to install, not a traceback
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "imagga-moderator needs the command line's dependencies (click is missing): "
        "pip install 'imagga-s3-moderator[cli]'"
    ]
