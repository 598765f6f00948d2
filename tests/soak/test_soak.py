"""The fault-injection soak, small enough for every test run.

Sixty awkward objects (photographs with fixed verdicts, non-images, empty and truncated files,
keys with spaces, `+` and unicode; some deleted, overwritten, uploaded twice or announced twice
while their messages wait) go through the whole local stack while the Imagga emulator answers
429s, limit-403s, 500s, 503s, timeouts and malformed bodies, and the function's S3 client gets
SlowDown and 500 answers. Short visibility timeouts keep the redeliveries quick. `make soak`
runs the same with 500 objects and the timings closer to a deployment.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from infra.soak.run import Soak, SoakConfig, SoakResult
from infra.soak.workload import Twist

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMALL = SoakConfig(
    objects=60,
    wave=30,
    visibility_timeout=4,
    function_timeout=20,
    wave_gap=1.0,
    outage_after_wave=0,
    outage_seconds=14.0,
    drain_timeout=240,
    imagga_read_timeout=1.0,
    imagga_max_attempts=3,
    imagga_faults=replace(SoakConfig().imagga_faults, timeout_hold=1.3),
)


@pytest.fixture(scope="module")
def soaked() -> SoakResult:
    # GIVEN the small soak's objects, twists and faults  WHEN they have all gone through the stack
    return Soak(SMALL).run()


def test_faults_of_every_layer_were_injected_and_the_queue_drained(soaked: SoakResult) -> None:
    # THEN the soak really exercised failures (a soak without faults would prove nothing)
    assert soaked.drained, soaked.summary()
    assert sum(soaked.imagga_faults.values()) > 0, soaked.summary()
    assert sum(soaked.s3_faults.values()) > 0, soaked.summary()
    assert soaked.twists[Twist.DELETED] > 0 and soaked.twists[Twist.OVERWRITTEN] > 0, soaked.summary()


def test_no_object_is_lost_despite_the_faults(soaked: SoakResult) -> None:
    # THEN every object's latest content is at its key or in quarantine
    assert soaked.lost == [], soaked.summary()


def test_every_surviving_object_carries_a_moderation_status(soaked: SoakResult) -> None:
    assert soaked.unlabelled == [], soaked.summary()


def test_every_object_is_where_its_status_puts_it(soaked: SoakResult) -> None:
    # THEN quarantined iff UNSAFE, no deleted object quarantined, no overwrite lost its newer content
    assert soaked.wrong_place == [], soaked.summary()


def test_every_status_is_the_verdict_of_the_fixed_scores_or_error(soaked: SoakResult) -> None:
    assert soaked.wrong_verdict == [], soaked.summary()
    assert soaked.statuses["UNSAFE"] > 0 and soaked.statuses["UNSUPPORTED"] > 0, soaked.summary()
