"""infra/events/ is what the SAM CLI and the published samples in infra/events/sources/ give, edited as README says."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra.events import generate

pytestmark = pytest.mark.template

EVENTS = Path(generate.__file__).resolve().parent


def test_regenerating_the_sample_events_reproduces_every_committed_file(sam: Path, tmp_path: Path) -> None:
    # GIVEN the SAM CLI and the published samples kept verbatim in infra/events/sources/
    # WHEN the samples are generated again into an empty folder
    written = generate.write(tmp_path, sam, echo=lambda _line: None)

    # THEN the same files come out, byte for byte, and no committed sample is missing from the recipe
    assert sorted(path.name for path in written) == sorted(path.name for path in EVENTS.glob("*.json"))
    for path in written:
        assert path.read_text(encoding="utf-8") == (EVENTS / path.name).read_text(encoding="utf-8"), path.name


def test_every_sample_and_source_is_described_in_the_readme() -> None:
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    names = [path.name for path in EVENTS.glob("*.json")] + [
        str(path.relative_to(EVENTS / "sources")) for path in (EVENTS / "sources").rglob("*.json")
    ]
    assert [name for name in names if f"`{name}`" not in readme] == []
