"""`sam build` makes the python3.13 package without Docker: only what the function runs, byte-compiled."""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import RUNTIME

pytestmark = [pytest.mark.package, pytest.mark.slow]

EM_AARCH64 = 183
EM_X86_64 = 62
#: importlib's flags word of a hash-based .pyc whose source is never checked (PEP 552).
UNCHECKED_HASH_FLAGS = 0b01


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    return int.from_bytes(header[18:20], "little")


def files_of(package: Path) -> set[str]:
    return {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()}


def runtime_python(package: Path, env: dict[str, str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """python3.13 with the package alone on its path (-I: no user site, no current directory)."""
    return subprocess.run(
        [f"python{RUNTIME}", "-I", "-c", f"import sys; sys.path[:0] = [sys.argv[1]]; {code}", str(package), *args],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def test_sam_build_makes_an_arm64_python313_package_without_docker(arm64_package: Path) -> None:
    # GIVEN template.yaml as it is, built by `sam build` (no container) into a temporary directory
    # WHEN its native code is inspected
    native = sorted(arm64_package.rglob("*.so")) + sorted(arm64_package.rglob("*.so.*"))

    # THEN it holds the function's code and its dependencies, every native file built for arm64 and
    # every extension module for CPython 3.13
    assert (arm64_package / "moderator" / "app.py").is_file()
    assert (arm64_package / "aws_lambda_powertools").is_dir() and (arm64_package / "requests").is_dir()
    assert sorted(arm64_package.glob("PIL/_imaging.cpython-313-aarch64-linux-gnu.so"))
    assert native and {elf_machine(path) for path in native} == {EM_AARCH64}
    extensions = [p.name for p in native if ".cpython-" in p.name]
    assert extensions and all(".cpython-313-" in name for name in extensions)
    # AND the image decoders: Pillow's own AVIF plugin, and pi-heif's libheif and libde265 for HEIC
    assert sorted(arm64_package.glob("PIL/_avif.cpython-313-aarch64-linux-gnu.so"))
    assert sorted(arm64_package.glob("_pi_heif.cpython-313-aarch64-linux-gnu.so"))
    assert sorted(p.name.split("-")[0] for p in (arm64_package / "pi_heif.libs").iterdir()) == ["libde265", "libheif"]


def test_x86_64_build_holds_the_same_files_as_the_arm64_one(arm64_package: Path, x86_64_package: Path) -> None:
    # GIVEN the same sources built for both architectures
    # WHEN file names are compared with the architecture and the bundled libraries' hashes left out
    def normalised(package: Path) -> set[str]:
        names = {re.sub(r"aarch64|x86_64", "ARCH", name) for name in files_of(package)}
        return {re.sub(r"-[0-9a-f]{8}(\.so)", r"-HASH\1", name) for name in names}

    # THEN they hold the same files, natively built for each
    assert normalised(arm64_package) == normalised(x86_64_package)
    native = sorted(x86_64_package.rglob("*.so")) + sorted(x86_64_package.rglob("*.so.*"))
    assert native and {elf_machine(path) for path in native} == {EM_X86_64}


def test_package_holds_only_what_the_function_runs(arm64_package: Path) -> None:
    # GIVEN the built package
    files = files_of(arm64_package)
    top = {name.split("/")[0] for name in files}

    # THEN the operator's tools are not in it (their dependencies are not either) ...
    assert not (arm64_package / "moderator" / "cli").exists()
    assert not (arm64_package / "moderator" / "web").exists()
    assert not (arm64_package / "moderator" / "__main__.py").exists()
    assert not {"click", "rich", "flask", "werkzeug"} & {name.lower() for name in top}
    # ... nor the build's own files, installed scripts, stubs, C sources or test suites
    assert not {"requirements.txt", "Makefile", "build_package.py", "bin"} & top
    assert not [name for name in top if name.endswith((".data", "-stubs"))]
    assert not [name for name in files if name.endswith((".pyi", ".c", ".h", "py.typed", "jp.py"))]
    assert not [name for name in files if re.search(r"(^|/)tests?/", name) and ".dist-info/" not in name]
    # ... nor botocore's models of services the function never calls
    assert sorted(p.name for p in (arm64_package / "botocore" / "data").iterdir() if p.is_dir()) == sorted(
        ["dynamodb", "events", "s3", "secretsmanager", "sns", "sqs"]
    )


def test_every_module_has_an_unchecked_hash_pyc_for_python313(arm64_package: Path, runtime_env: dict[str, str]) -> None:
    # GIVEN the built package and python3.13's bytecode magic number
    magic = runtime_python(
        arm64_package, runtime_env, "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"
    )
    assert magic.returncode == 0, magic.stderr
    modules = sorted(arm64_package.rglob("*.py"))

    # WHEN each module's cached bytecode is read where python3.13 looks for it
    missing, wrong = [], []
    for module in modules:
        cached = module.parent / "__pycache__" / f"{module.stem}.cpython-{RUNTIME.replace('.', '')}.pyc"
        if not cached.is_file():
            missing.append(str(module.relative_to(arm64_package)))
            continue
        header = cached.read_bytes()[:8]
        if header[:4].hex() != magic.stdout.strip() or int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_FLAGS:
            wrong.append(str(cached.relative_to(arm64_package)))

    # THEN every module has one, for python3.13, that is valid whatever the files' times (zip rounds them)
    assert modules and not missing and not wrong, (missing[:10], wrong[:10])


def test_built_package_imports_the_handler_with_the_runtimes_python(
    arm64_package: Path, runtime_env: dict[str, str]
) -> None:
    # GIVEN the arm64 package and python3.13 (the handler module loads Pillow only when it judges an image)
    arm64_host = platform.machine().lower() in ("aarch64", "arm64")
    modules = ["moderator.imaging", "PIL.Image"] if arm64_host else []

    # WHEN the handler is imported from the package alone
    result = runtime_python(
        arm64_package,
        runtime_env,
        "import importlib; [importlib.import_module(m) for m in sys.argv[2:]]; "
        "import moderator.app as app; assert callable(app.lambda_handler); print(app.__file__)",
        *modules,
    )

    # THEN it imports, from the package
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(arm64_package / "moderator" / "app.py")


def test_every_module_the_function_needs_imports_when_built_for_this_machine(
    native_package: Path, runtime_env: dict[str, str]
) -> None:
    # GIVEN the package built for this machine's architecture (native code loads only on its own)
    # WHEN the handler and every module that needs a dependency are imported with python3.13
    result = runtime_python(
        native_package,
        runtime_env,
        "import importlib; [importlib.import_module(m) for m in sys.argv[2:]]",
        "moderator.app",
        "moderator.imaging",
        "moderator.wiring",
        "moderator.idempotency",
        "PIL.Image",
        "PIL.JpegImagePlugin",
        "PIL._avif",
        "pi_heif",
    )

    # THEN everything imports from the package
    assert result.returncode == 0, result.stderr


def test_the_package_decodes_heic_and_avif_with_its_own_libraries(
    native_package: Path, runtime_env: dict[str, str]
) -> None:
    # GIVEN a HEIC sample (stored on its side, with a rotation box) and an AVIF made with the package's Pillow
    heic = Path(__file__).resolve().parents[2] / "infra" / "local" / "samples" / "coffee-rotated.heic"
    code = (
        "import io; from PIL import Image; from moderator.imaging import prepare; import pi_heif\n"
        "heic = prepare(open(sys.argv[2], 'rb').read(), short_side=600, max_pixels=10**8)\n"
        "out = io.BytesIO(); Image.new('RGB', (64, 48), (10, 20, 30)).save(out, format='AVIF')\n"
        "avif = prepare(out.getvalue(), short_side=600, max_pixels=10**8)\n"
        "print(heic.source_format, heic.sent_size[0], heic.sent_size[1], avif.source_format, pi_heif.__file__)"
    )

    # WHEN both are prepared by the function's code from the package alone
    result = runtime_python(native_package, runtime_env, code, str(heic))

    # THEN both are read, the HEIC upright, with the package's own decoders
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:4] == ["HEIF", "600", "400", "AVIF"]
    assert result.stdout.split()[4].startswith(str(native_package))


def test_every_aws_client_the_function_can_build_loads_from_the_package(
    native_package: Path, runtime_env: dict[str, str]
) -> None:
    # GIVEN settings that turn on every AWS service the function can use: the secret, the tables,
    # the event bus, the alert topic and the backfill queue (whose SQS client is made on first use)
    code = (
        "import boto3; made = []; boto3.setup_default_session(); "
        "boto3.DEFAULT_SESSION.events.register('creating-client-class', "
        "lambda event_name, **_: made.append(event_name.rsplit('.', 1)[-1])); "
        "from moderator.settings import Settings; from moderator.wiring import build_services; "
        "services = build_services(Settings.from_env({"
        "'IMAGGA_SECRET_ARN': 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x', "
        "'IDEMPOTENCY_TABLE': 'idempotency', 'DECISIONS_TABLE': 'decisions', 'EVENT_BUS_NAME': 'default', "
        "'ALERT_TOPIC_ARN': 'arn:aws:sns:us-east-1:123456789012:alerts', 'BUDGET_TABLE': 'budget', "
        "'BACKFILL_QUEUE_URL': 'https://sqs.us-east-1.amazonaws.com/123456789012/backfill'})); "
        "services.queues.client; print(' '.join(sorted(made)))"
    )

    # WHEN the function's services are built from the package alone (clients only: no request is made)
    result = runtime_python(
        native_package,
        {**runtime_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"},
        code,
    )

    # THEN every client is made: the models of the services it calls are in the package
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["dynamodb", "eventbridge", "s3", "secrets-manager", "sns", "sqs"]
