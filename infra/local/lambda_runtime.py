"""A built package run as Lambda runs it: AWS's runtime interface client and a Runtime API on 127.0.0.1.

`RuntimeApi` is the HTTP API Lambda gives a runtime (`GET /2018-06-01/runtime/invocation/next`
answered with the event and the `Lambda-Runtime-*` headers; `POST .../invocation/<id>/response`,
`.../invocation/<id>/error` and `/runtime/init/error`). `FunctionProcess` starts
`python -m awslambdaric <handler>` (python3.13, from `.venv-runtime`) with the environment Lambda
sets, the package as its working directory and only `PYTHONPATH`, bytecode writing off, and a
telemetry pipe for the runtime's own log frames, as Lambda gives one. Its stdout and stderr are
what the function writes.

    with RuntimeApi("moderator") as api, FunctionProcess(python, package, api, env) as function:
        result = api.invoke(event)          # the answer, or the error the runtime posted

Times are `time.monotonic()` of this process, so a benchmark can read process start -> first
`/next` (init) and `/next` answered -> result posted (invocation) from the same clock.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .template_defaults import TEMPLATE, load_template

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_VENV = ROOT / ".venv-runtime"
RUNTIME_PYTHON = RUNTIME_VENV / "bin" / "python"
API_PREFIX = "/2018-06-01/runtime"
ACCOUNT = "123456789012"


@dataclass
class InvocationResult:
    request_id: str
    event: Any
    submitted_at: float
    delivered_at: float | None = None
    answered_at: float | None = None
    response: Any = None
    error: dict[str, Any] | None = None
    error_type: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def duration_ms(self) -> float:
        """From the moment the runtime got the event to the moment it posted the answer."""
        if self.delivered_at is None or self.answered_at is None:
            raise ValueError("the invocation has not finished")
        return (self.answered_at - self.delivered_at) * 1000


class InvocationTimeoutError(TimeoutError):
    pass


def template_function_environment(
    stack_env: Mapping[str, str], template: Path = TEMPLATE, function: str = "ModeratorFunction"
) -> dict[str, str]:
    """The variables template.yaml gives the function (parameters at their defaults), then the stack's.

    Values the template takes from its own resources or conditions (tables, the secret, `!If`) are
    left to `stack_env`, which the local stack fills with its own.
    """
    loaded = load_template(template)
    parameters = loaded.get("Parameters") or {}
    resources = loaded.get("Resources") or {}
    variables = resources[function]["Properties"]["Environment"]["Variables"]
    env: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(value, str | int | float):
            continue
        if value in parameters:
            default = parameters[value].get("Default")
            if default is not None and str(default) != "":
                env[name] = str(default)
        elif value not in resources:
            env[name] = str(value)
    return {**env, **stack_env}


class RuntimeApi:
    """Lambda's Runtime API for one function instance, on 127.0.0.1 (a free port)."""

    def __init__(
        self, function_name: str, *, region: str = "us-east-1", timeout_seconds: float = 60, trace_daemon: bool = True
    ) -> None:
        self.function_name = function_name
        self.region = region
        self.timeout_seconds = timeout_seconds
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"
        self._pending: queue.Queue[InvocationResult] = queue.Queue()
        self._by_id: dict[str, InvocationResult] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.next_calls: list[float] = []
        self.init_error: dict[str, Any] | None = None
        self.init_error_type: str | None = None
        self._server: ThreadingHTTPServer | None = None
        #: X-Ray segments the function sent to the "daemon" (a UDP socket), when trace_daemon is on.
        self.trace_documents: list[dict[str, Any]] = []
        self._trace_socket: socket.socket | None = None
        self._trace_daemon = trace_daemon

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> RuntimeApi:
        api = self

        class Handler(_Handler):
            runtime = api

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True).start()
        if self._trace_daemon:
            self._trace_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._trace_socket.bind(("127.0.0.1", 0))
            self._trace_socket.settimeout(0.2)
            threading.Thread(target=self._receive_traces, name="xray-daemon", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._trace_socket is not None:
            self._trace_socket.close()
            self._trace_socket = None

    def __enter__(self) -> RuntimeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        if self._server is None:
            raise RuntimeError("the Runtime API is not started")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def trace_daemon_address(self) -> str | None:
        if self._trace_socket is None:
            return None
        host, port = self._trace_socket.getsockname()[:2]
        return f"{host}:{port}"

    # --- invoking ---------------------------------------------------------------------------

    def submit(self, event: Any) -> InvocationResult:
        result = InvocationResult(request_id=str(uuid.uuid4()), event=event, submitted_at=time.monotonic())
        with self._lock:
            self._by_id[result.request_id] = result
        self._pending.put(result)
        return result

    def invoke(self, event: Any, timeout: float | None = None) -> InvocationResult:
        """Hand the event to the runtime's next `/next` and wait for its response or error."""
        result = self.submit(event)
        if not result.done.wait(timeout if timeout is not None else self.timeout_seconds + 30):
            raise InvocationTimeoutError(f"no answer to invocation {result.request_id} (is the runtime running?)")
        return result

    def wait_for_next(self, count: int = 1, timeout: float = 60) -> float:
        """Wait until the runtime has asked for its `count`-th event; the time it asked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.next_calls) >= count:
                    return self.next_calls[count - 1]
                if self.init_error is not None:
                    raise RuntimeError(f"the function failed to initialise: {self.init_error}")
            time.sleep(0.005)
        raise InvocationTimeoutError(f"the runtime did not ask for event {count} within {timeout:g}s")

    # --- what the HTTP handler calls ----------------------------------------------------------

    def _next(self) -> InvocationResult | None:
        with self._lock:
            self.next_calls.append(time.monotonic())
        while not self._stopping.is_set():
            try:
                result = self._pending.get(timeout=0.2)
            except queue.Empty:
                continue
            result.delivered_at = time.monotonic()
            return result
        return None

    def _answer(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> bool:
        with self._lock:
            result = self._by_id.get(request_id)
        if result is None or result.done.is_set():
            return False
        result.answered_at = time.monotonic()
        payload = json.loads(body) if body else None
        if kind == "response":
            result.response = payload
        else:
            result.error = payload
            result.error_type = error_type
        result.done.set()
        return True

    def _init_failed(self, body: bytes, error_type: str | None) -> None:
        with self._lock:
            self.init_error = json.loads(body) if body else {}
            self.init_error_type = error_type

    def _receive_traces(self) -> None:
        sock = self._trace_socket
        while sock is not None and not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            # The daemon protocol: a JSON header line, then the segment document.
            _, _, document = data.partition(b"\n")
            try:
                self.trace_documents.append(json.loads(document))
            except ValueError:
                continue


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime that is stopped while it waits for `/next` drops its connection: nothing to report."""


class _Handler(BaseHTTPRequestHandler):
    runtime: RuntimeApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the client's delayed ACK
    # would add ~40 ms to every invocation.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, {"errorMessage": f"unknown path {self.path}"})
            return
        api = self.runtime
        result = api._next()
        if result is None:
            self._reply(410, {"errorMessage": "the Runtime API is stopping"})
            return
        deadline_ms = int((time.time() + api.timeout_seconds) * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"
        body = json.dumps(result.event).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", result.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", api.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", trace)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.runtime._init_failed(body, error_type)
            self._reply(202, {"status": "OK"})
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            known = self.runtime._answer(parts[1], parts[2], body, error_type)
            self._reply(202 if known else 400, {"status": "OK"} if known else {"errorMessage": "unknown request id"})
        else:
            self._reply(404, {"errorMessage": f"unknown path {self.path}"})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@dataclass(frozen=True)
class TelemetryFrame:
    """One frame the runtime client wrote to its telemetry pipe (its own log lines and error reports)."""

    frame_type: int
    timestamp_us: int
    message: str


class FunctionProcess:
    """`python -m awslambdaric HANDLER` in the package directory, with the environment Lambda sets."""

    def __init__(
        self,
        package: Path,
        api: RuntimeApi,
        env: Mapping[str, str],
        *,
        handler: str = "moderator.app.lambda_handler",
        python: Path = RUNTIME_PYTHON,
        memory_mb: int = 1024,
        runtime_path: tuple[Path, ...] = (),
    ) -> None:
        """`runtime_path`: folders standing for the runtime's own site-packages, after the package."""
        self.package = package
        self.runtime_path = runtime_path
        self.api = api
        self.handler = handler
        self.python = python
        self.memory_mb = memory_mb
        self.function_env = dict(env)
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.frames: list[TelemetryFrame] = []
        self.started_at: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    def lambda_environment(self, telemetry_fd: int) -> dict[str, str]:
        """What Lambda's python3.13 runtime sets, then the function's own variables (template and stack)."""
        name = self.api.function_name
        region = self.api.region
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(self.package),
            "LAMBDA_RUNTIME_DIR": str(self.python.parent.parent),
            "_HANDLER": self.handler,
            "_LAMBDA_TELEMETRY_LOG_FD": str(telemetry_fd),
            "PYTHONPATH": os.pathsep.join(str(p) for p in (self.package, *self.runtime_path)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
        daemon = self.api.trace_daemon_address
        if daemon:
            host, port = daemon.split(":")
            env.update(AWS_XRAY_DAEMON_ADDRESS=daemon, _AWS_XRAY_DAEMON_ADDRESS=host, _AWS_XRAY_DAEMON_PORT=port)
        return {**env, **self.function_env}

    def start(self) -> FunctionProcess:
        read_end, write_end = os.pipe()
        env = self.lambda_environment(write_end)
        self.started_at = time.monotonic()
        self._process = subprocess.Popen(
            [str(self.python), "-m", "awslambdaric", self.handler],
            cwd=self.package,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        assert self._process.stdout is not None and self._process.stderr is not None
        for target, args in (
            (self._lines, (self._process.stdout, self.stdout_lines)),
            (self._lines, (self._process.stderr, self.stderr_lines)),
            (self._read_frames, (read_end,)),
        ):
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(10)
            self._process = None
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> FunctionProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait(self, timeout: float) -> int:
        if self._process is None:
            raise RuntimeError("not started")
        return self._process.wait(timeout)

    def output(self) -> list[str]:
        """Every line the function wrote to stdout and stderr, stdout first."""
        return [*self.stdout_lines, *self.stderr_lines]

    @staticmethod
    def _lines(stream: Any, into: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            into.append(raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def _read_frames(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            while header := _read_exactly(pipe, 16):
                frame_type = int.from_bytes(header[:4], "big")
                length = int.from_bytes(header[4:8], "big")
                timestamp = int.from_bytes(header[8:16], "big")
                message = _read_exactly(pipe, length)
                self.frames.append(TelemetryFrame(frame_type, timestamp, message.decode("utf-8", "replace")))


def _read_exactly(pipe: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = pipe.read(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
