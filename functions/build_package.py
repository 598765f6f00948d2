"""Build the directory Lambda runs: the function's own modules, its dependencies, byte-compiled.

`sam build` runs this through `functions/Makefile` (the function's `BuildMethod: makefile`); it
needs no Docker. Run it with the runtime's Python (python3.13): the `.pyc` files it writes are
that version's, and pip picks the dependencies' wheels for Lambda's platform, not this machine's.

    python3.13 build_package.py --target DIR [--architecture arm64|x86_64]

What goes in, and why:
- only the modules the handler can import (followed from `moderator.app`, lazy imports included,
  `if TYPE_CHECKING:` blocks not): the operator's command line, the review page and
  `python -m moderator` stay out, since their dependencies (click, rich, Flask) are not shipped;
- the dependencies pinned in requirements.txt (and constraints.txt when it is there), as binary
  wheels for Lambda's Linux, without scripts, stubs, C sources or test suites;
- of botocore's models, only those of the AWS services the function calls: botocore reads a
  service's model when a client for it is made, and the other ~440 services are 27 MB;
- every module byte-compiled with unchecked-hash `.pyc` files: Lambda's code directory is
  read-only, so without them each cold start compiles every module it imports, and zip rounds
  file times, so timestamp-checked `.pyc` files would be taken as stale.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIME = (3, 13)
HANDLER_MODULE = "moderator.app"

#: Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): every manylinux tag up to that.
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64"),
    "x86_64": (
        "manylinux1_x86_64",
        "manylinux2010_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux_2_34_x86_64",
    ),
}

#: The AWS services the function makes clients for (moderator/wiring.py). A client for any
#: other service fails with UnknownServiceError: add it here when the function starts using it.
AWS_SERVICES = ("s3", "secretsmanager", "dynamodb", "events", "sns", "sqs")

#: Never run by the function: installed scripts, typing stubs and markers, C sources, test suites.
PRUNED_DIRS = ("tests", "test", "__pycache__")
PRUNED_SUFFIXES = (".pyi", ".c", ".h", ".pyx", ".pxd")
PRUNED_NAMES = ("py.typed",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, required=True, help="the package directory (emptied first)")
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--requirements", type=Path, default=HERE / "requirements.txt")
    parser.add_argument("--constraints", type=Path, default=HERE.parent / "constraints.txt")
    parser.add_argument("--source", type=Path, default=HERE, help="where the handler's package is")
    parser.add_argument("--handler-module", default=HANDLER_MODULE)
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        metavar="DISTRIBUTION",
        help="a distribution to take from the runtime instead (e.g. boto3; for measurements)",
    )
    parser.add_argument("--no-compile", action="store_true", help="no .pyc files (for measurements)")
    parser.add_argument("--no-prune", action="store_true", help="dependencies as pip installs them (for measurements)")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        parser.error(f"run with python{RUNTIME[0]}.{RUNTIME[1]} (the function's runtime), not {sys.version.split()[0]}")
    build(
        args.target,
        architecture=args.architecture,
        requirements=args.requirements,
        constraints=args.constraints if args.constraints.is_file() else None,
        source=args.source,
        handler_module=args.handler_module,
        leave_out=args.leave_out,
        compile_bytecode=not args.no_compile,
        prune=not args.no_prune,
    )
    return 0


def build(
    target: Path,
    *,
    architecture: str,
    requirements: Path,
    constraints: Path | None,
    source: Path,
    handler_module: str,
    leave_out: Iterable[str] = (),
    compile_bytecode: bool = True,
    prune: bool = True,
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    install_requirements(target, architecture, requirements, constraints)
    for distribution in leave_out:
        remove_distribution(target, distribution)
    if prune:
        prune_dependencies(target)
    for module_file in sorted(handler_modules(source, handler_module)):
        copied = target / module_file.relative_to(source)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module_file, copied)
    if compile_bytecode:
        byte_compile(target)


def install_requirements(target: Path, architecture: str, requirements: Path, constraints: Path | None) -> None:
    """pip, for Lambda's platform: binary wheels only, so nothing is compiled for this machine."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--target", str(target), "--no-compile", "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", f"{RUNTIME[0]}.{RUNTIME[1]}"]
    for platform in PLATFORMS[architecture]:
        command += ["--platform", platform]
    command += ["-r", str(requirements)]
    if constraints is not None:
        command += ["-c", str(constraints)]
    subprocess.run(command, check=True)  # noqa: S603 - this interpreter's pip, arguments built here


def remove_distribution(target: Path, name: str) -> None:
    """Every file an installed distribution's RECORD lists."""
    wanted = name.lower().replace("-", "_")
    records = [p for p in target.glob("*.dist-info/RECORD") if p.parent.name.lower().startswith(wanted + "-")]
    if not records:
        raise SystemExit(f"{name} is not in the package")
    for line in records[0].read_text(encoding="utf-8").splitlines():
        path = target / line.split(",", 1)[0]
        if path.is_file():
            path.unlink()
    for directory in sorted((p for p in target.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def prune_dependencies(target: Path) -> None:
    for path in list(target.iterdir()):
        # Installed scripts (jmespath's jp.py), wheel .data folders, stub-only packages (wrapt-stubs).
        if path.name == "bin" or path.name.endswith((".data", "-stubs")):
            shutil.rmtree(path)
    for path in sorted(target.rglob("*"), reverse=True):
        if not path.exists():
            continue
        if path.is_dir() and path.name in PRUNED_DIRS and ".dist-info" not in path.parent.name:
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in PRUNED_SUFFIXES or path.name in PRUNED_NAMES):
            path.unlink()
    prune_aws_models(target)


def prune_aws_models(target: Path) -> None:
    """botocore's and boto3's models of services the function never calls (shared files stay)."""
    for data in (target / "botocore" / "data", target / "boto3" / "data"):
        if not data.is_dir():
            continue
        for service in data.iterdir():
            if service.is_dir() and service.name not in AWS_SERVICES:
                shutil.rmtree(service)


def handler_modules(source: Path, handler_module: str) -> set[Path]:
    """The files of every module the handler can import from its own package, lazy imports included."""
    package = handler_module.split(".")[0]
    found: dict[str, Path] = {}
    pending = [handler_module]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = module_file(source, name)
        if path is None:
            continue
        found[name] = path
        parts = name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        is_package = path.name == "__init__.py"
        pending += [m for m in imported_modules(path, name, is_package) if m.split(".")[0] == package]
    return set(found.values())


def module_file(source: Path, name: str) -> Path | None:
    base = source.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, name: str, is_package: bool) -> Iterator[str]:
    """Names of modules an import statement may load (for `from x import y`, both x and x.y)."""
    here = name if is_package else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:` (imports for the type checker only)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def byte_compile(target: Path) -> None:
    """Unchecked-hash .pyc beside every module, as Lambda's Python will look for them."""
    ok = compileall.compile_dir(
        str(target),
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit("byte-compiling the package failed")


if __name__ == "__main__":
    sys.exit(main())
