"""Browser-test fixtures: a moto server, a local Imagga, the function, the review page, and Chromium.

The review page runs in-process on a free port (werkzeug in a thread) against a moto server,
exactly as `python -m moderator review --endpoint-url ...` runs it; objects reach quarantine
through the function's own moderation. Chromium is Debian's (`/usr/bin/chromium`, installed by
`make test`), driven by Playwright; no browser is downloaded.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.client import BaseClient
from moto.server import ThreadedMotoServer
from PIL import Image
from werkzeug.serving import make_server

from moderator.cli.review_cmd import review_service, stack_queues
from moderator.cli.runtime import Runtime
from moderator.ledger import decision_id, table_definition
from moderator.model import ObjectRef, Outcome
from moderator.settings import Settings
from moderator.web.app import create_app
from moderator.wiring import build_services
from tests.integration.conftest import imagga, imagga_server  # noqa: F401  (the same fake Imagga server)
from tests.integration.fake_imagga import API_KEY, API_SECRET, FakeImagga

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = "us-east-1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: moto's answer to sts:GetCallerIdentity: the reviewer the ledger must name.
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"


def create_decisions_table(dynamodb: BaseClient, name: str) -> None:
    """Like the template's: partition key `id`, index `by-status` (status, scanned_at)."""
    dynamodb.create_table(**table_definition(name))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Stack:
    """A bucket and a decisions table of their own on the moto server, and the function's moderation."""

    endpoint: str
    imagga: FakeImagga
    bucket: str
    table: str
    env: dict[str, str]
    s3: Any = field(init=False)
    dynamodb: Any = field(init=False)

    def __post_init__(self) -> None:
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=REGION)

    def upload_and_moderate(self, key: str, body: bytes, *, scanned_at: str | None = None) -> Outcome:
        """Upload an object and let the function moderate it (as its SQS message would)."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        services = build_services(
            Settings.from_env(self.env),
            s3_client=self.s3,
            dynamodb_client=self.dynamodb,
            http_session=requests.Session(),
            backoff_base=0.001,
        )
        if scanned_at:
            services.moderator.clock = lambda: scanned_at
        return services.moderator.moderate(ObjectRef(self.bucket, key))

    def tags(self, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]}

    def keys(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def decisions(self, key: str) -> list[dict[str, Any]]:
        """Ledger decision items of an original key."""
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return [i for i in items if i["kind"]["S"] == "decision" and i["object_key"]["S"] == key]

    def annotate(self, outcome: Outcome, **attributes: dict[str, str]) -> None:
        """Add typed attributes to the ledger item of a scan (as another writer of the ledger would)."""
        names = {f"#a{n}": name for n, name in enumerate(attributes)}
        values = {f":v{n}": value for n, value in enumerate(attributes.values())}
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": decision_id(self.bucket, outcome.ref.key, str(outcome.scanned_at))}},
            UpdateExpression="SET " + ", ".join(f"#a{n} = :v{n}" for n in range(len(attributes))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


@pytest.fixture
def stack(moto_endpoint: str, imagga: FakeImagga, monkeypatch: pytest.MonkeyPatch) -> Stack:
    suffix = uuid.uuid4().hex[:10]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "IMAGGA_API_ENDPOINT": imagga.endpoint,
        "IMAGGA_API_KEY": API_KEY,
        "IMAGGA_API_SECRET": API_SECRET,
        "DECISIONS_TABLE": f"decisions-{suffix}",
    }
    stack = Stack(moto_endpoint, imagga, f"photos-{suffix}", env["DECISIONS_TABLE"], env)
    stack.s3.create_bucket(Bucket=stack.bucket)
    create_decisions_table(stack.dynamodb, stack.table)
    return stack


@dataclass
class RunningApp:
    url: str
    runtime: Runtime


def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="review-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def review_app(stack: Stack) -> Iterator[RunningApp]:
    """The review page of the stack's bucket, as `python -m moderator review` builds it."""
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    app = create_app(review_service(runtime, stack.bucket, page_size=5))
    for url in serve(app):
        yield RunningApp(url, runtime)


@pytest.fixture
def make_app(stack: Stack) -> Iterator[Callable[..., RunningApp]]:
    """Review pages of the stack's bucket with options of their own (page size, content memory, queues, env)."""
    running: list[Iterator[str]] = []

    def build(page_size: int = 5, memory: Any = None, stack_name: str | None = None, **env: str) -> RunningApp:
        runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env={**stack.env, **env})
        queues = stack_queues(runtime, stack_name, None, None)  # as `review --stack-name` reads them
        service = review_service(runtime, stack.bucket, page_size=page_size, memory=memory, queues=queues)
        server = serve(create_app(service))
        running.append(server)
        return RunningApp(next(server), runtime)

    yield build
    for server in running:
        next(server, None)  # shuts it down


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (make test installs Debian's chromium; apt-get failed?)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 720},
        )
        context.set_default_timeout(15_000)
        yield context
        context.close()


@dataclass
class Browser:
    page: Any
    dialogs: list[str]


@pytest.fixture
def browser(browser_context: Any) -> Iterator[Browser]:
    """A fresh tab, no cookies; any JavaScript dialog (an alert from injected markup) is recorded."""
    browser_context.clear_cookies()
    page = browser_context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield Browser(page, dialogs)
    page.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Any:
    """Save a full-page screenshot; into docs/screenshots/ when UPDATE_SCREENSHOTS=1 (`make screenshots`)."""
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path

    def take(page: Any, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as shot:
            assert shot.width > 0 and shot.height > 0
            # A palette of 128 colours keeps the committed pictures small; text stays sharp.
            small = shot.convert("RGB").quantize(colors=128)
        small.save(path, optimize=True)
        return path

    return take
