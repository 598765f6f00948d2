"""LocalStack on this host, without Docker: a second S3 (with SQS, Secrets Manager, EventBridge, SNS, STS).

moto agrees with this project's own fixtures in places where AWS does not (it ignores copy
preconditions, its events carry no version id); LocalStack's S3 is checked against AWS's own
answers, so the local stack and the tests can run on it too. It lives in its own virtualenv
(`.venv-localstack`, python3.13: `localstack-core` cannot be imported on 3.11), installed by
`make localstack` from the pins in `infra/localstack-requirements.txt`.

    with LocalStackServer() as server:
        boto3.client("s3", endpoint_url=server.endpoint_url, ...)

The process listens on 127.0.0.1 on a free port, keeps its files in a temporary directory and
starts only the services named in SERVICES. DynamoDB is not among them (LocalStack's needs Java
and a download): the local stack keeps DynamoDB on moto.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Where `make localstack` installs it; LOCALSTACK_PYTHON names another interpreter that has it.
DEFAULT_PYTHON = REPO / ".venv-localstack" / "bin" / "python"
SERVICES = "s3,sqs,secretsmanager,events,sns,sts"
#: A cold start takes 2-5 s here; a busy shared 2-core machine can take far longer.
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
#: Variables of ours that would change what LocalStack does if it inherited them.
_NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "AWS_ENDPOINT_URL")


class LocalStackUnavailableError(RuntimeError):
    """LocalStack is not installed here, or did not start; the message says which and what to do."""


def localstack_python() -> Path:
    return Path(os.environ.get("LOCALSTACK_PYTHON") or DEFAULT_PYTHON)


def unavailable_reason() -> str | None:
    """Why LocalStack cannot run here, or None when its interpreter is installed."""
    python = localstack_python()
    if not python.exists():
        return (
            f"LocalStack is not installed ({python} is missing): run `make localstack` "
            "(it needs python3.13, e.g. from pyenv)"
        )
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStackServer:
    """One LocalStack process: `start()` returns once its health endpoint answers, `stop()` ends it."""

    def __init__(
        self,
        *,
        python: Path | None = None,
        port: int = 0,
        services: str = SERVICES,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.python = python or localstack_python()
        self._requested_port = port
        self.port = 0
        self.services = services
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self._log: Path | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """LocalStack's own output: where to look when a call behaves oddly."""
        return self._log

    def start(self) -> LocalStackServer:
        if not self.python.exists():
            raise LocalStackUnavailableError(
                f"LocalStack is not installed ({self.python} is missing): run `make localstack`"
            )
        # A port taken between choosing it and binding it only costs a second try.
        attempts = 1 if self._requested_port else 2
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            try:
                self._launch()
                self._wait_until_healthy()
                return self
            except LocalStackUnavailableError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    def _launch(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="localstack-"))
        self._log = self._root / "localstack.log"
        env = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
        env.update(
            {
                "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
                "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
                "SERVICES": self.services,
                # No DNS server of its own, no certificate download (no internet here), no analytics.
                "DNS_ADDRESS": "0",
                "SKIP_SSL_CERT_DOWNLOAD": "1",
                "DISABLE_EVENTS": "1",
                # Run as the host process it is (this machine may itself look like a container to
                # LocalStack, which would then write to /var/lib/localstack instead of FILESYSTEM_ROOT).
                "OVERRIDE_IN_DOCKER": "0",
                "LOCALSTACK_VOLUME_DIR": str(self._root / "volume"),
                "FILESYSTEM_ROOT": str(self._root / "filesystem"),
                # Queue URLs that name this endpoint, not a *.localstack.cloud host name needing DNS.
                "SQS_ENDPOINT_STRATEGY": "path",
            }
        )
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                cwd=self._root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in order
            )

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.endpoint_url}/_localstack/health"
        wanted = set(self.services.split(","))
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise LocalStackUnavailableError(f"LocalStack exited while starting:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    services = json.load(response).get("services", {})
                if all(services.get(name) in ("available", "running") for name in wanted):
                    return
            except (OSError, ValueError):
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise LocalStackUnavailableError(
                    f"LocalStack did not answer {url} within {self.startup_timeout:g}s:\n{self._log_tail()}"
                )
            time.sleep(0.2)

    def _log_tail(self, lines: int = 30) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (LocalStack shuts its services down in a few seconds), SIGKILL if it hangs; files removed."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"LocalStack (pid {process.pid}) ignored SIGTERM for {STOP_TIMEOUT:g}s: killed", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> LocalStackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """`python -m infra.local.localstack_server`: start it, print the endpoint, stop on Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalStackServer() as server:
        print(f"LocalStack listening on {server.endpoint_url} ({server.services}); Ctrl-C stops it.", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
