"""Fetching an image by URL (`check URL` and the review page's "Check an image"), as an untrusted request.

A URL typed into the review page is someone else's input aimed at the moderator's machine and
network. So: one deadline for the whole fetch (connect, TLS, headers, body, every redirect),
enforced by closing the socket, not only per-read timeouts a slow-drip server can meet forever;
only public addresses, checked for every hop of a redirect chain that is followed here, one hop
at a time; and each connection made to the very address that was checked (the name is resolved
once per hop), so a DNS answer that changes between the check and the connect (rebinding)
changes nothing. `allow_private` (the operator's `--allow-private-urls`) lifts the address rule
only.

The standard library does the HTTP on a socket opened here: requests/urllib3 resolve names
themselves and give no handle to cut a stalled transfer.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urljoin, urlsplit

import certifi

from ..errors import PermanentError

#: Seconds for the whole fetch, redirects included.
DEADLINE = 30.0
CONNECT_TIMEOUT = 5.0
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port -> the addresses the name resolves to.
Resolver = Callable[[str, int], list[str]]
#: address, port, timeout -> a connected socket.
Connector = Callable[[str, int, float], socket.socket]

#: Ranges `is_global` lets through that still reach private or local networks.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(net)
    for net in (
        "100.64.0.0/10",  # carrier-grade NAT: internal workloads
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast
        "64:ff9b::/96",  # NAT64: an IPv4 address inside, possibly a private one
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4: an IPv4 address inside
        "2001::/32",  # Teredo: an IPv4 address inside
    )
)


class FetchError(PermanentError):
    """The image could not be fetched; the message says why (for the operator, never for the page)."""

    kind = "fetch"


class RefusedAddressError(FetchError):
    kind = "refused-address"


class DeadlineError(FetchError):
    kind = "deadline"


class TooLargeError(FetchError):
    kind = "too-large"


def is_public(address: Address) -> bool:
    """Globally routable unicast only: never loopback, link-local (169.254.169.254), private or reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast and not any(address in net for net in NOT_PUBLIC)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def direct_connect(address: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout)


@dataclass
class UrlFetcher:
    allow_private: bool = False
    deadline: float = DEADLINE
    connect_timeout: float = CONNECT_TIMEOUT
    max_redirects: int = MAX_REDIRECTS
    #: Seams for tests: name resolution and the one place a connection is opened.
    resolve: Resolver = field(default=system_resolver, repr=False)
    connect: Connector = field(default=direct_connect, repr=False)

    def fetch(self, url: str, max_bytes: int) -> bytes:
        """The body of a 200 answer, following at most `max_redirects` redirects, within `deadline` seconds."""
        ends_at = time.monotonic() + self.deadline
        for _ in range(self.max_redirects + 1):
            status, location, body = self._get(url, max_bytes, ends_at)
            if status in REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if status != 200:
                raise FetchError(f"{url}: HTTP {status}")
            return body
        raise FetchError(f"more than {self.max_redirects} redirects")

    def _get(self, url: str, max_bytes: int, ends_at: float) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url}: not an http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError(f"{url}: invalid port") from exc
        host = parts.hostname
        addresses = self._addresses(host, port, ends_at)
        sock = self._connect(addresses, port, ends_at)
        with _Watchdog(sock, _left(ends_at)) as watchdog:
            try:
                return self._exchange(watchdog, url, parts, max_bytes)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if watchdog.fired.is_set():
                    raise DeadlineError(f"{url}: no complete answer within {self.deadline:g} s") from exc
                raise FetchError(f"{url}: {type(exc).__name__}") from exc
            finally:
                watchdog.close()

    def _addresses(self, host: str, port: int, ends_at: float) -> list[Address]:
        """The addresses to connect to, every one of them checked: a name resolves once per hop."""
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resolve")
            try:
                # getaddrinfo cannot be interrupted: wait for it no longer than the deadline.
                names = pool.submit(self.resolve, host, port).result(timeout=_left(ends_at))
            except FutureTimeout as exc:
                raise DeadlineError(f"{host}: no DNS answer within {self.deadline:g} s") from exc
            except OSError as exc:
                raise FetchError(f"{host}: does not resolve ({exc})") from exc
            finally:
                pool.shutdown(wait=False)
            found = [ipaddress.ip_address(name.split("%", 1)[0]) for name in names]
        if not found:
            raise FetchError(f"{host}: does not resolve")
        refused = [str(address) for address in found if not is_public(address)]
        if refused and not self.allow_private:
            raise RefusedAddressError(
                f"{host} resolves to {', '.join(refused)}, not a public address (--allow-private-urls allows it)"
            )
        return found

    def _connect(self, addresses: list[Address], port: int, ends_at: float) -> socket.socket:
        failure: OSError | None = None
        for address in addresses:
            if _left(ends_at) <= 0:
                raise DeadlineError(f"no connection within {self.deadline:g} s")
            try:
                return self.connect(str(address), port, min(self.connect_timeout, _left(ends_at)))
            except OSError as exc:
                failure = exc
        raise FetchError(f"could not connect ({type(failure).__name__})")

    def _exchange(
        self, watchdog: _Watchdog, url: str, parts: SplitResult, max_bytes: int
    ) -> tuple[int, str | None, bytes]:
        host, port = str(parts.hostname), parts.port
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=certifi.where())
            watchdog.sock = context.wrap_socket(watchdog.sock, server_hostname=host)
            connection = http.client.HTTPSConnection(host, port, context=context)
        else:
            connection = http.client.HTTPConnection(host, port)
        # The connection is already open, to the checked address: http.client must not open another.
        connection.sock = watchdog.sock
        connection.request("GET", _target(parts), headers={"Accept": "image/*", "Connection": "close"})
        response = connection.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location"), b""
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise TooLargeError(f"{url}: the image is larger than the limit of {max_bytes} bytes")
        chunks: list[bytes] = []
        total = 0
        while chunk := response.read1(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise TooLargeError(f"{url}: the image is larger than the limit of {max_bytes} bytes")
            chunks.append(chunk)
        if watchdog.fired.is_set():
            raise DeadlineError(f"{url}: no complete answer within {self.deadline:g} s")
        return 200, None, b"".join(chunks)


class _Watchdog:
    """Shuts the connection down when the deadline passes, whatever phase the fetch is in."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.fired = threading.Event()
        # Backstop for a single read; the timer ends the whole exchange.
        sock.settimeout(max(seconds, 0.001) + 1)
        self._timer = threading.Timer(max(seconds, 0.0), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        self.fired.set()
        # The plain socket's shutdown, also under TLS: it wakes a blocked read without touching TLS state.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        self.sock.close()


def _left(ends_at: float) -> float:
    return max(ends_at - time.monotonic(), 0.0)


def _target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
