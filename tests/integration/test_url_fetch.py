"""Fetching an image by URL: public addresses only (every redirect too), the checked address pinned, one deadline.

The servers are real sockets on 127.0.0.1; names count as public through the fake network of
network.py, which never lets a connection leave this machine.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from moderator.cli.fetch import DeadlineError, FetchError, RefusedAddressError, TooLargeError, UrlFetcher, is_public
from tests.builders import jpeg_bytes

from .network import PUBLIC, FakeNetwork, SlowDrip

pytestmark = pytest.mark.integration

IMAGE = jpeg_bytes()


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver on 127.0.0.1 only, on a free port."""
    return ("127.0.0.1", 0)


@pytest.fixture
def network(httpserver: HTTPServer) -> FakeNetwork:
    return FakeNetwork(answers={"images.example": [[PUBLIC]]}, routes={PUBLIC: httpserver.port})


def public_url(httpserver: HTTPServer, path: str) -> str:
    return f"http://images.example:{httpserver.port}{path}"


def test_a_public_name_is_fetched_from_the_address_that_was_checked(
    httpserver: HTTPServer, network: FakeNetwork
) -> None:
    # GIVEN an image at a name that resolves to a public address
    httpserver.expect_request("/cat.jpg").respond_with_data(IMAGE, content_type="image/jpeg")

    # WHEN it is fetched
    data = network.fetcher().fetch(public_url(httpserver, "/cat.jpg"), 1_000_000)

    # THEN the bytes arrive, over a connection to that address, asking for that name
    assert data == IMAGE
    assert network.connected == [PUBLIC]
    (request, _) = httpserver.log[0]
    assert request.headers["Host"] == f"images.example:{httpserver.port}"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/cat.jpg",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.7/cat.jpg",
        "http://[::1]:{port}/cat.jpg",
        "http://[::ffff:127.0.0.1]:{port}/cat.jpg",
        "http://intranet.example/cat.jpg",
    ],
)
def test_a_redirect_to_a_loopback_link_local_or_private_address_is_refused(
    httpserver: HTTPServer, network: FakeNetwork, target: str
) -> None:
    # GIVEN a public page that redirects to an address on the moderator's machine or network
    location = target.format(port=httpserver.port)
    network.answers["intranet.example"] = [["192.168.1.20"]]
    httpserver.expect_request("/cat.jpg").respond_with_data("", status=302, headers={"Location": location})

    # WHEN it is fetched / THEN the redirect is refused before any connection to that address
    with pytest.raises(RefusedAddressError, match="not a public address"):
        network.fetcher().fetch(public_url(httpserver, "/cat.jpg"), 1_000_000)
    assert network.connected == [PUBLIC]


def test_a_name_answered_differently_between_check_and_connect_is_not_reached_twice(
    httpserver: HTTPServer, network: FakeNetwork
) -> None:
    # GIVEN a name whose DNS answers a public address first and 127.0.0.1 afterwards (rebinding)
    network.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    httpserver.expect_request("/cat.jpg").respond_with_data(IMAGE, content_type="image/jpeg")

    # WHEN it is fetched
    data = network.fetcher().fetch(f"http://rebind.example:{httpserver.port}/cat.jpg", 1_000_000)

    # THEN it was resolved once, and the connection went to the address that was checked
    assert data == IMAGE
    assert network.resolved == ["rebind.example"]
    assert network.connected == [PUBLIC]


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    httpserver: HTTPServer, network: FakeNetwork
) -> None:
    # GIVEN a name answering a public and a private address
    network.answers["mixed.example"] = [[PUBLIC, "10.1.2.3"]]

    # WHEN it is fetched / THEN it is refused, with no connection at all
    with pytest.raises(RefusedAddressError, match=r"10\.1\.2\.3"):
        network.fetcher().fetch(f"http://mixed.example:{httpserver.port}/cat.jpg", 1_000_000)
    assert network.connected == []


def test_the_operator_may_allow_private_addresses(httpserver: HTTPServer) -> None:
    # GIVEN an image on 127.0.0.1, and a fetcher the operator allowed private addresses
    httpserver.expect_request("/cat.jpg").respond_with_data(IMAGE, content_type="image/jpeg")
    url = httpserver.url_for("/cat.jpg")

    # WHEN it is fetched with and without the permission / THEN only the allowed fetch reaches it
    assert UrlFetcher(allow_private=True).fetch(url, 1_000_000) == IMAGE
    with pytest.raises(RefusedAddressError):
        UrlFetcher().fetch(url, 1_000_000)
    assert len(httpserver.log) == 1


def test_a_redirect_loop_ends(httpserver: HTTPServer, network: FakeNetwork) -> None:
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})

    with pytest.raises(FetchError, match="redirects"):
        network.fetcher(max_redirects=3).fetch(public_url(httpserver, "/loop"), 1_000_000)
    assert len(httpserver.log) == 4


def test_an_answer_over_the_size_cap_is_refused(httpserver: HTTPServer, network: FakeNetwork) -> None:
    httpserver.expect_request("/big.jpg").respond_with_data(b"\xff" * 50_000, content_type="image/jpeg")

    with pytest.raises(TooLargeError):
        network.fetcher().fetch(public_url(httpserver, "/big.jpg"), 10_000)


# --- one deadline for the whole fetch ---------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["body", "headers"])
def slow_drip(request: pytest.FixtureRequest) -> Iterator[SlowDrip]:
    server = SlowDrip(headers_too=request.param)
    yield server
    server.close()


def test_a_slow_drip_answer_is_cut_at_the_deadline(slow_drip: SlowDrip) -> None:
    # GIVEN a server that would take a minute (600 bytes, one per 0.1 s), and a fetch allowed 1 second
    fetcher = UrlFetcher(allow_private=True, deadline=1.0)

    # WHEN the image is fetched
    started = time.monotonic()
    with pytest.raises(DeadlineError, match="within 1 s"):
        fetcher.fetch(f"http://127.0.0.1:{slow_drip.port}/slow.jpg", 1_000_000)
    took = time.monotonic() - started

    # THEN the fetch gave up long before the answer could end, and the server saw its client go
    assert took < 30
    assert slow_drip.client_gone.wait(timeout=30)
    assert slow_drip.sent < slow_drip.body_size


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::6810:84e5", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("10.0.0.7", False),
        ("172.16.5.4", False),
        ("192.168.1.20", False),
        ("100.64.0.1", False),
        ("fd00::1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to classify, nothing is bound
        ("224.0.0.251", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a00:7", False),
        ("2002:a00:7::", False),
    ],
)
def test_only_globally_routable_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
