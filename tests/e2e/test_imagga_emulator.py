"""The Imagga emulator speaks the wire contract of imagga-api.md."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from infra.local.imagga_emulator import PERCEPTUAL_MATCH_BITS, Faults, ImaggaEmulator, perceptual_hash
from PIL import Image

pytestmark = pytest.mark.e2e

AUTH = ("test-key", "test-secret")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator() -> Iterator[ImaggaEmulator]:
    with ImaggaEmulator(concurrency_limit=1, monthly_limit=1000) as running:
        yield running


def test_wrong_credentials_get_401_with_the_error_envelope(emulator: ImaggaEmulator) -> None:
    # WHEN a call carries credentials the emulator does not know
    answer = requests.post(f"{emulator.url}/categories/nsfw_beta", auth=("wrong", "creds"), timeout=5)

    # THEN it is a 401 with Imagga's error status
    assert answer.status_code == 401
    assert answer.json()["status"]["type"] == "error"


def test_categorization_answers_the_envelope_and_monthly_limit_headers(
    emulator: ImaggaEmulator, samples: dict[str, bytes]
) -> None:
    # WHEN a photo is posted to nsfw_beta
    files = {"image": ("x.jpg", samples["chelsea.jpg"], "image/jpeg")}
    answer = requests.post(f"{emulator.url}/categories/nsfw_beta", files=files, auth=AUTH, timeout=10)

    # THEN the body is Imagga's success envelope with nsfw and safe percentages, and the usage headers count it
    body = answer.json()
    assert body["status"] == {"text": "", "type": "success"}
    labels = {c["name"]["en"]: c["confidence"] for c in body["result"]["categories"]}
    assert set(labels) == {"nsfw", "safe"}
    assert labels["nsfw"] + labels["safe"] == pytest.approx(100)
    assert answer.headers["Monthly-Limit"] == "1000"
    assert answer.headers["Monthly-Limit-Remaining"] == "999"
    assert int(answer.headers["Monthly-Limit-Reset"]) > 0


def test_concurrent_calls_over_the_limit_get_429(emulator: ImaggaEmulator, samples: dict[str, bytes]) -> None:
    # GIVEN a concurrency limit of 1 and slow answers
    emulator.set_faults(latency=0.5)

    # WHEN three calls arrive at once
    def call(_: int) -> int:
        files = {"image": ("x.jpg", samples["rocket.jpg"], "image/jpeg")}
        return requests.post(f"{emulator.url}/categories/nsfw_beta", files=files, auth=AUTH, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = sorted(pool.map(call, range(3)))

    # THEN the ones over the limit are refused with 429, and /usage reports the limit
    assert 429 in codes and 200 in codes
    usage = requests.get(f"{emulator.url}/usage", params={"concurrency": 1}, auth=AUTH, timeout=5).json()
    assert usage["result"]["concurrency"]["max"] == 1


def test_upload_delete_and_unknown_upload_id(emulator: ImaggaEmulator, samples: dict[str, bytes]) -> None:
    # GIVEN an uploaded image
    files = {"image": ("x.jpg", samples["coffee.jpg"], "image/jpeg")}
    upload_id = requests.post(f"{emulator.url}/uploads", files=files, auth=AUTH, timeout=5).json()["result"][
        "upload_id"
    ]

    # WHEN it is categorized by id, deleted, then asked for again
    by_id = requests.get(
        f"{emulator.url}/categories/adult_content", params={"image_upload_id": upload_id}, auth=AUTH, timeout=10
    )
    deleted = requests.delete(f"{emulator.url}/uploads/{upload_id}", auth=AUTH, timeout=5)
    again = requests.get(
        f"{emulator.url}/categories/adult_content", params={"image_upload_id": upload_id}, auth=AUTH, timeout=5
    )

    # THEN the categorization uses adult_content's labels, the delete succeeds, and the id is gone (410)
    assert {c["name"]["en"] for c in by_id.json()["result"]["categories"]} == {"explicit", "safe"}
    assert deleted.json() == {"status": {"text": "", "type": "success"}}
    assert again.status_code == 410


def test_fixed_scores_by_sha256_are_served_and_logged_as_fixed(emulator: ImaggaEmulator) -> None:
    # GIVEN bytes registered with fixed scores
    data = b"registered bytes"
    emulator.register_scores(hashlib.sha256(data).hexdigest(), {"nsfw": 88.0, "safe": 12.0})

    # WHEN they are categorized
    files = {"image": ("x.jpg", data, "image/jpeg")}
    body = requests.post(f"{emulator.url}/categories/nsfw_beta", files=files, auth=AUTH, timeout=5).json()

    # THEN the fixed scores come back and the request log says so
    assert body["result"]["categories"][0] == {"confidence": 88.0, "name": {"en": "nsfw"}}
    assert emulator.request_log[-1].scores_source == "fixed"


def reencoded_gif_frame(data: bytes) -> bytes:
    """What the function sends for a GIF frame made from `data`: palette-quantised, downscaled, JPEG again."""
    frame = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=256).convert("RGB")
    out = io.BytesIO()
    frame.resize((frame.width * 3 // 4, frame.height * 3 // 4)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def categorize(emulator: ImaggaEmulator, data: bytes) -> dict[str, float]:
    files = {"image": ("x.jpg", data, "image/jpeg")}
    body = requests.post(f"{emulator.url}/categories/nsfw_beta", files=files, auth=AUTH, timeout=10).json()
    return {c["name"]["en"]: c["confidence"] for c in body["result"]["categories"]}


def test_an_image_registered_with_perceptual_matching_is_recognised_in_a_reencoded_frame_and_says_how(
    emulator: ImaggaEmulator, samples: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the demo sample registered with fixed scores, recognisable by its pixels
    emulator.register_image(samples["demo-unsafe-sample.png"], {"nsfw": 97.5, "safe": 2.5}, perceptual=True)
    caplog.set_level(logging.INFO, logger="imagga-emulator")
    # WHEN a re-encoded GIF frame of it arrives (other bytes, the same picture)
    scores = categorize(emulator, reencoded_gif_frame(samples["demo-unsafe-sample.png"]))
    # THEN the fixed scores are served, and the log and the record say they were fixed, and why
    assert scores == {"nsfw": 97.5, "safe": 2.5}
    record = emulator.request_log[-1]
    assert (record.scores_source, record.fixed_match) == ("fixed", "perceptual")
    assert record.match_distance is not None and record.match_distance <= PERCEPTUAL_MATCH_BITS
    assert "fixed scores served for a registered image (matched by perceptual" in caplog.text


def test_photos_unlike_a_registered_image_are_scored_by_the_model(
    emulator: ImaggaEmulator, samples: dict[str, bytes]
) -> None:
    emulator.register_image(samples["demo-unsafe-sample.png"], 97.5, perceptual=True)
    for name in ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"):
        categorize(emulator, samples[name])
        assert (emulator.request_log[-1].scores_source, emulator.request_log[-1].fixed_match) == ("model", None)


def test_without_perceptual_registration_only_the_exact_bytes_get_fixed_scores(
    emulator: ImaggaEmulator, samples: dict[str, bytes]
) -> None:
    sample = samples["demo-unsafe-sample.png"]
    emulator.register_image(sample, 97.5)
    categorize(emulator, sample)
    categorize(emulator, reencoded_gif_frame(sample))
    assert [(r.scores_source, r.fixed_match) for r in emulator.request_log] == [("fixed", "sha256"), ("model", None)]


def test_a_plain_picture_cannot_be_registered_to_be_recognised_by_its_pixels(emulator: ImaggaEmulator) -> None:
    # A one-colour picture looks like every other one: matching it by its pixels would be a lie
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, format="PNG")
    with pytest.raises(ValueError, match="too plain"):
        emulator.register_image(out.getvalue(), 97.5, perceptual=True)
    assert perceptual_hash(out.getvalue()) is None


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(rate_429=1.0), 429),
        (Faults(rate_limit_403=1.0), 403),
        (Faults(rate_500=1.0), 500),
        (Faults(rate_503=1.0), 503),
    ],
)
def test_fault_rates_answer_the_chosen_error(emulator: ImaggaEmulator, faults: Faults, status: int) -> None:
    # GIVEN a fault at rate 1
    emulator.set_faults(faults)

    # WHEN any categorization is asked
    answer = requests.post(f"{emulator.url}/categories/nsfw_beta", files={"image": ("x", b"x")}, auth=AUTH, timeout=5)

    # THEN it gets that error in the envelope (a limit-403 names the limit, as Imagga's does)
    assert answer.status_code == status
    assert answer.json()["status"]["type"] == "error"
    if status == 403:
        assert "limit" in answer.json()["status"]["text"]


def test_malformed_and_timeout_faults(emulator: ImaggaEmulator) -> None:
    # GIVEN malformed bodies, then no answer at all
    emulator.set_faults(rate_malformed=1.0)
    malformed = requests.post(
        f"{emulator.url}/categories/nsfw_beta", files={"image": ("x", b"x")}, auth=AUTH, timeout=5
    )
    emulator.set_faults(Faults(rate_timeout=1.0, timeout_hold=5.0))

    # WHEN / THEN the first is a 200 that is not JSON, the second outlasts the client's read timeout
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    with pytest.raises(requests.Timeout):
        requests.post(f"{emulator.url}/categories/nsfw_beta", files={"image": ("x", b"x")}, auth=AUTH, timeout=(2, 0.3))


def test_the_emulator_run_alone_answers_the_demo_sample_s_fixed_scores_like_make_local() -> None:
    # GIVEN the emulator started on its own, as the README's `python -m infra.local.imagga_emulator`
    from infra.local.stack import DEMO_UNSAFE_NSFW, DEMO_UNSAFE_SAMPLE

    from moderator.imaging import prepare
    from moderator.settings import Settings

    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.imagga_emulator", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.split()[3]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v2"), banner
        assert f"nsfw {DEMO_UNSAFE_NSFW}" in process.stdout.readline()

        # WHEN the sample is categorized as the function sends it (downscaled with its defaults), and as a file
        defaults = Settings()
        sent = prepare(
            DEMO_UNSAFE_SAMPLE.read_bytes(), short_side=defaults.resize_short_side, max_pixels=defaults.max_image_pixels
        ).data
        answers = [
            requests.post(f"{url}/categories/nsfw_beta", files={"image": ("x", data)}, auth=AUTH, timeout=30).json()
            for data in (sent, DEMO_UNSAFE_SAMPLE.read_bytes())
        ]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    # THEN both carry the fixed unsafe score, not the model's
    for answer in answers:
        labels = {c["name"]["en"]: c["confidence"] for c in answer["result"]["categories"]}
        assert labels["nsfw"] == DEMO_UNSAFE_NSFW
