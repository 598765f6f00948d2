"""`sam build` makes the python3.13 / arm64 package without Docker, and the package imports the handler."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, TEMPLATE, runtime_python_environment

pytestmark = [pytest.mark.template, pytest.mark.slow]

RUNTIME = "3.13"
EM_AARCH64 = 183
EM_X86_64 = 62
NO_RUNTIME = f"python{RUNTIME} (the function's runtime) is not installed: sam build needs it without Docker"


def sam_build(sam: Path, template: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(sam),
            "build",
            "--template-file",
            str(template),
            "--build-dir",
            str(out / "build"),
            "--cache-dir",
            str(out / "cache"),
            "--no-cached",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    return int.from_bytes(header[18:20], "little")


def imports_handler(package: Path, env: dict[str, str], *modules: str) -> subprocess.CompletedProcess[str]:
    """Import the handler (and more modules) from the built package alone, with the runtime's Python."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]; "
        "import importlib; [importlib.import_module(m) for m in sys.argv[2:]]; "
        "import moderator.app as app; assert callable(app.lambda_handler); print(app.__file__)"
    )
    return subprocess.run(
        [f"python{RUNTIME}", "-I", "-c", code, str(package), *modules],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def runtime_env(sam: Path) -> dict[str, str]:
    env = runtime_python_environment(RUNTIME)
    if env is None:
        pytest.skip(NO_RUNTIME)
    return env


@pytest.fixture(scope="module")
def arm64_package(sam: Path, runtime_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam-build-arm64")
    result = sam_build(sam, TEMPLATE, out, runtime_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "build" / "ModeratorFunction"


def test_sam_build_makes_an_arm64_python313_package_without_docker(arm64_package: Path) -> None:
    # GIVEN the template built by `sam build` (no container) into a temporary directory
    # WHEN the package is inspected
    pillow = sorted(arm64_package.glob("PIL/_imaging.cpython-313-*.so"))

    # THEN it holds the function's code and its dependencies, native ones built for CPython 3.13 on arm64
    assert (arm64_package / "moderator" / "app.py").is_file()
    assert (arm64_package / "aws_lambda_powertools").is_dir() and (arm64_package / "requests").is_dir()
    assert pillow and elf_machine(pillow[0]) == EM_AARCH64
    # AND the image decoders: Pillow's own AVIF plugin, and pi-heif's libheif for HEIC
    avif = sorted(arm64_package.glob("PIL/_avif.cpython-313-*.so"))
    heif = sorted(arm64_package.glob("_pi_heif.cpython-313-*.so"))
    assert avif and elf_machine(avif[0]) == EM_AARCH64
    assert heif and elf_machine(heif[0]) == EM_AARCH64
    assert sorted(p.name.split("-")[0] for p in (arm64_package / "pi_heif.libs").iterdir()) == ["libde265", "libheif"]


def test_built_package_imports_the_handler_with_the_runtimes_python(
    arm64_package: Path, runtime_env: dict[str, str]
) -> None:
    # GIVEN the arm64 package and python3.13 (the handler module loads Pillow only when it judges an image)
    arm64_host = platform.machine().lower() in ("aarch64", "arm64")
    modules = ["moderator.imaging", "PIL.Image"] if arm64_host else []

    # WHEN the handler is imported from the package alone (-I: no user site, no current directory)
    result = imports_handler(arm64_package, runtime_env, *modules)

    # THEN it imports, from the package
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(arm64_package / "moderator" / "app.py")


def test_every_module_of_the_package_imports_when_built_for_this_machine(
    sam: Path, runtime_env: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN the same template built for this machine's architecture when it is not arm64 (native code can
    # only be loaded on its own architecture), from the same code and requirements
    if platform.machine().lower() in ("aarch64", "arm64"):
        pytest.skip("this machine is arm64: the arm64 package was imported in full already")
    native = tmp_path / "template.yaml"
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "Architectures: [arm64]" in text and "CodeUri: functions/" in text
    native.write_text(
        text.replace("Architectures: [arm64]", "Architectures: [x86_64]").replace(
            "CodeUri: functions/", f"CodeUri: {ROOT / 'functions'}/"
        ),
        encoding="utf-8",
    )
    result = sam_build(sam, native, tmp_path, runtime_env)
    assert result.returncode == 0, result.stdout + result.stderr
    package = tmp_path / "build" / "ModeratorFunction"

    # WHEN the handler and every module that needs a dependency are imported with python3.13
    result = imports_handler(
        package,
        runtime_env,
        "moderator.imaging",
        "moderator.wiring",
        "moderator.idempotency",
        "PIL.Image",
        "PIL._avif",
        "pi_heif",
    )

    # THEN everything imports from the package
    assert result.returncode == 0, result.stderr
    assert elf_machine(sorted(package.glob("PIL/_imaging.cpython-313-*.so"))[0]) == EM_X86_64

    # AND the package decodes a HEIC and an AVIF with its own libraries
    samples = ROOT / "infra" / "local" / "samples"
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import io; from PIL import Image\n"
        "from moderator.imaging import prepare\n"
        "heic = prepare(open(sys.argv[2], 'rb').read(), short_side=600, max_pixels=10**8)\n"
        "out = io.BytesIO(); Image.new('RGB', (64, 48), (10, 20, 30)).save(out, format='AVIF')\n"
        "avif = prepare(out.getvalue(), short_side=600, max_pixels=10**8)\n"
        "import pi_heif; print(heic.source_format, heic.sent_size, avif.source_format, pi_heif.__file__)\n"
    )
    decoded = subprocess.run(
        [f"python{RUNTIME}", "-I", "-c", code, str(package), str(samples / "coffee-rotated.heic")],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=120,
        env=runtime_env,
        check=False,
    )
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.split()[:4] == ["HEIF", "(600,", "400)", "AVIF"]
    assert decoded.stdout.split()[4].startswith(str(package))
