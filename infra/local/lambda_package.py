"""The function's package from outside `sam build`: the runtime's Python, builds, sizes, snapshots.

`functions/build_package.py` needs python3.13 (the runtime's: it byte-compiles for it). On these
machines pyenv provides it when PYENV_VERSION names it next to the current version;
`runtime_python_environment()` finds such an environment, or says there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "functions" / "build_package.py"
RUNTIME = "3.13"


def runtime_python_environment(version: str = RUNTIME) -> dict[str, str] | None:
    """An environment in which `python3.13` runs (pyenv: the current version plus 3.13.x), or None.

    `sam build` without Docker needs the runtime's Python on the PATH; with pyenv it is there
    only when PYENV_VERSION names it (e.g. `PYENV_VERSION=3.11.7:3.13.0`).
    """
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    if shutil.which("pyenv"):
        current = _run(["pyenv", "version-name"], env).strip().split(":")
        installed = _run(["pyenv", "versions", "--bare"], env).split()
        wanted = sorted((v for v in installed if v.startswith(version + ".")), key=_version_key)
        if wanted and wanted[-1] not in current:
            env["PYENV_VERSION"] = ":".join([*(v for v in current if v), wanted[-1]])
    probe = _run([f"python{version}", "-c", "import sys; print(sys.version_info[:2])"], env)
    return env if probe.strip() == str(tuple(int(p) for p in version.split("."))) else None


def build_package(target: Path, env: dict[str, str], *options: str) -> None:
    """`python3.13 functions/build_package.py --target TARGET OPTIONS...` (see its --help)."""
    subprocess.run(
        [f"python{RUNTIME}", str(BUILD_SCRIPT), "--target", str(target), *options],
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )


def machine_architecture() -> str:
    """Lambda's name for this machine's architecture: a package can only be run on its own."""
    return "arm64" if os.uname().machine.lower() in ("aarch64", "arm64") else "x86_64"


@dataclass(frozen=True)
class PackageSize:
    files: int
    unzipped_bytes: int
    zipped_bytes: int


def package_size(package: Path, scratch: Path) -> PackageSize:
    """Bytes on disk and in a zip made as `sam package` makes it (deflate, default level)."""
    files = [p for p in sorted(package.rglob("*")) if p.is_file()]
    archive = scratch / f"{package.name}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in files:
            zipped.write(path, path.relative_to(package))
    size = PackageSize(len(files), sum(p.stat().st_size for p in files), archive.stat().st_size)
    archive.unlink()
    return size


def read_only_copy(package: Path, target: Path) -> Path:
    """A copy with every write bit off (`chmod -R a-w`), as Lambda's code directory is read-only."""
    shutil.copytree(package, target, symlinks=True)
    subprocess.run(["chmod", "-R", "a-w", str(target)], check=True)
    return target


def remove_read_only(path: Path) -> None:
    subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
    shutil.rmtree(path)


def snapshot(package: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder with its size and modification time: what a write would change."""
    return {
        str(p.relative_to(package)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
        for p in package.rglob("*")
    }


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _run(command: list[str], env: dict[str, str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""
