"""The near-copy check measured on a corpus made from the sample photos (infra/bench/corpus.py).

The sources are remembered as rejected through the DynamoDB adapter (moto), exactly as a purge
remembers them; every corpus image is then fingerprinted as the function fingerprints an upload and
looked up through the table's index. Goals: at least 95 % of the near-copies caught, no false match
across at least 1,000 unrelated images. The figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient
from infra.bench.corpus import SAMPLES, SOURCES, Sample, near_copies, unrelated
from moto import mock_aws

from moderator.assessment import prepare_image
from moderator.content_memory import rejection_of
from moderator.fingerprint import MATCH_DISTANCE, closest, distance
from moderator.ledger import table_definition
from moderator.memory import DynamoDBContentMemory
from moderator.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLE = "corpus-decisions"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[BaseClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_definition(TABLE))
        yield client


#: Every hash each source is indexed by (filled by the `memory` fixture), to report the margin.
INDEXED: dict[str, frozenset[int]] = {}


@pytest.fixture(scope="module")
def memory(dynamodb: BaseClient) -> tuple[DynamoDBContentMemory, dict[str, str]]:
    """Every source remembered as rejected; returns the memory and SHA-256 -> source name."""
    remembered = DynamoDBContentMemory(dynamodb, TABLE)
    names = {}
    for name in SOURCES:
        data = (SAMPLES / name).read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        rejection = rejection_of(
            sha256,
            data,
            location=f"s3://corpus/{name}",
            rejected_by="corpus",
            rejected_at="2026-11-02T09:00:00Z",
            settings=SETTINGS,
        )
        remembered.remember_rejected(rejection.image, rejection.index)
        names[sha256] = name
        INDEXED[name] = rejection.index
    return remembered, names


def fingerprints_of(sample: Sample) -> list[int]:
    """The hashes the function computes for an upload of these bytes."""
    return [f.fingerprint for f in prepare_image(sample.data, SETTINGS).frames if f.fingerprint is not None]


def matches(memory: DynamoDBContentMemory, names: dict[str, str], sample: Sample) -> list[str]:
    """The sources the sample is taken for, nearest first, found through the table's index."""
    fingerprints = fingerprints_of(sample)
    candidates = [(c.sha256, c.fingerprint) for c in memory.near(fingerprints)]
    return [names[sha256] for sha256, _ in closest(fingerprints, candidates)]


def nearest(sample: Sample, sources: list[str]) -> int | None:
    """Bits to the nearest hash any of `sources` is indexed by (index or not): the margin."""
    return min(
        (distance(own, value) for own in fingerprints_of(sample) for name in sources for value in INDEXED[name]),
        default=None,
    )


def test_near_copies_of_rejected_photos_are_caught(memory: tuple[DynamoDBContentMemory, dict[str, str]]) -> None:
    # GIVEN the sample photos remembered as rejected, and their near-copies
    remembered, names = memory
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed = []

    # WHEN each near-copy is looked up as an upload would be
    for sample in near_copies():
        found = matches(remembered, names, sample)
        total[sample.kind] += 1
        if found[:1] == [sample.source]:
            caught[sample.kind] += 1
        else:
            missed.append(f"{sample.name} ({nearest(sample, [str(sample.source)])} bits; taken for {found})")

    # THEN at least 95 % are taken for the photo they were made from
    share = 100 * sum(caught.values()) / sum(total.values())
    counted = f"{sum(caught.values())}/{sum(total.values())}"
    print(f"\nnear-copies caught (within {MATCH_DISTANCE} bits): {counted} = {share:.1f} %")
    for kind in total:
        print(f"  {kind}: {caught[kind]}/{total[kind]}")
    for line in missed:
        print(f"  missed: {line}")
    assert share >= 95.0, missed


def test_no_unrelated_image_is_taken_for_a_rejected_one(memory: tuple[DynamoDBContentMemory, dict[str, str]]) -> None:
    # GIVEN the sample photos remembered as rejected, and at least 1,000 unrelated images: the samples
    # against each other, other framings of them, generated pictures
    remembered, names = memory
    false_matches = []
    kinds: Counter[str] = Counter()
    unhashed = 0
    margins: list[int] = []

    # WHEN each is looked up as an upload would be
    for sample in unrelated():
        kinds[sample.kind] += 1
        found = matches(remembered, names, sample)
        others = list(SOURCES)
        if sample.kind == "another sample":
            found = [name for name in found if name != sample.source]  # itself is no false match
            others.remove(str(sample.source))
        margin = nearest(sample, others)
        if margin is None:
            unhashed += 1
        else:
            margins.append(margin)
        if found:
            false_matches.append(f"{sample.name} taken for {found}")

    # THEN none is taken for a rejected photo
    checked = sum(kinds.values())
    print(f"\nunrelated images: {checked} ({dict(kinds)}); false matches: {len(false_matches)}")
    print(
        f"  nearest any of them comes to a hash of a rejected photo: {min(margins)} bits (a match is <= "
        f"{MATCH_DISTANCE}); too plain to hash (never matched): {unhashed}"
    )
    assert checked >= 1000
    assert false_matches == []
