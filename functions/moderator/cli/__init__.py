"""The operator's command line: `imagga-moderator --help` (or `python -m moderator --help`)."""

from __future__ import annotations

#: What the `cli` extra brings (requirements-cli.txt) and what those bring in turn.
EXTRA_MODULES = frozenset({"click", "rich", "flask", "flask_wtf", "werkzeug", "jinja2", "markupsafe", "wtforms"})


def main() -> None:
    """The `imagga-moderator` entry point: a clear message when the package was installed without its extra."""
    try:
        from .main import main as run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0].lower() not in EXTRA_MODULES:
            raise
        raise SystemExit(
            f"imagga-moderator needs the command line's dependencies ({exc.name} is missing): "
            "pip install 'imagga-s3-moderator[cli]'"
        ) from exc
    run()
