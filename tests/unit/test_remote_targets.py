"""Where a back end may send the charger, and how often: retries, addresses, redirects, abort.

The transfers go to real HTTP servers on loopback addresses.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_ocpp16_support import HungServer
from ukscp.security.remote_targets import (
    MAX_RETRIES,
    MAX_RETRY_INTERVAL_S,
    MIN_RETRY_INTERVAL_S,
    RetryPlan,
    TargetPolicy,
    TargetRefused,
    Transfer,
    address_refusal,
    retry_plan,
)


def test_a_million_retries_without_a_pause_become_five_30_s_apart() -> None:
    assert retry_plan(1_000_000, 0) == RetryPlan(5, 30, clamped=True)


def test_absent_retries_are_the_chargers_choice() -> None:
    assert retry_plan(None, None) == RetryPlan(2, 60, clamped=False)


@given(st.none() | st.integers(-(10**12), 10**12), st.none() | st.integers(-(10**12), 10**12))
def test_every_plan_is_within_the_bounds(retries: int | None, interval: int | None) -> None:
    plan = retry_plan(retries, interval)
    assert 0 <= plan.retries <= MAX_RETRIES
    assert MIN_RETRY_INTERVAL_S <= plan.interval_s <= MAX_RETRY_INTERVAL_S
    wanted = (2 if retries is None else retries, 60 if interval is None else interval)
    assert plan.clamped == (wanted != (plan.retries, plan.interval_s))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "169.254.169.254",
        "10.1.2.3",
        "192.168.1.20",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
    ],
)
def test_addresses_off_limits(address: str) -> None:
    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "2a00:1450:4009:81d::200e"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1/logs/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:8443/",
        "https://localhost/",
        "https://api.localhost/",
        "ftp://files.example/fw.whl",
        "http://files.example/fw.whl",  # plain http is not allowed here
        "https:///no-host",
    ],
)
def test_locations_refused_before_any_connection(location: str) -> None:
    assert TargetPolicy().location_problem(location) is not None


def test_a_host_name_waits_for_its_addresses_and_a_lab_may_allow_private_ones() -> None:
    assert TargetPolicy().location_problem("https://files.example/fw.whl") is None
    lab = TargetPolicy(allow_plain_http=True, allow_private=True)
    assert lab.location_problem("http://127.0.0.1:8080/logs/") is None


class Recording(ThreadingHTTPServer):
    def __init__(
        self, address: str, redirect_to: str | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                if redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__((address, 0), Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def inside() -> Iterator[Recording]:
    """A server on the charger's own network (127.0.0.2: loopback, as a private one is)."""
    server = Recording("127.0.0.2")
    yield server
    server.close()


# 127.0.0.1 plays a file server on the internet; every other address is judged as in service.
PUBLIC_127_0_0_1 = TargetPolicy(
    allow_plain_http=True,
    refusal=lambda address: None if address == "127.0.0.1" else address_refusal(address),
)


def fetch(policy: TargetPolicy, url: str) -> Any:
    with Transfer(policy).open(urllib.request.Request(url), timeout_s=5) as response:
        return response.read()


def test_a_name_that_resolves_to_a_loopback_address_is_refused_before_connecting(
    inside: Recording,
) -> None:
    # 2130706434 is 127.0.0.2 written as one number: not an address to the URL check,
    # so only resolving the name finds it out.
    url = f"http://2130706434:{inside.port}/secret"
    assert TargetPolicy(allow_plain_http=True).location_problem(url) is None
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.2 is a loopback address"):
        fetch(TargetPolicy(allow_plain_http=True), url)
    assert inside.hits == []


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:{port}/secret"]
)
def test_a_redirect_to_an_address_off_limits_is_not_followed(
    inside: Recording, target: str
) -> None:
    outside = Recording("127.0.0.1", redirect_to=target.format(port=inside.port))
    try:
        with pytest.raises(TargetRefused, match="redirected"):
            fetch(PUBLIC_127_0_0_1, f"http://127.0.0.1:{outside.port}/fw.whl")
        assert outside.hits == ["/fw.whl"]
        assert inside.hits == []
    finally:
        outside.close()


def test_a_redirect_to_a_name_is_checked_when_connecting(inside: Recording) -> None:
    outside = Recording("127.0.0.1", redirect_to=f"http://2130706434:{inside.port}/secret")
    try:
        with pytest.raises(TargetRefused, match="loopback"):
            fetch(PUBLIC_127_0_0_1, f"http://127.0.0.1:{outside.port}/fw.whl")
        assert inside.hits == []
    finally:
        outside.close()


async def test_a_cancelled_transfer_closes_its_connection_at_once() -> None:
    hung = HungServer()
    transfer = Transfer(TargetPolicy(allow_plain_http=True, allow_private=True))
    request = urllib.request.Request(hung.url("/logs/x"), data=b"log", method="PUT")
    task = asyncio.create_task(transfer.run(lambda: transfer.open(request, timeout_s=120)))
    try:
        assert await asyncio.to_thread(hung.accepted.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The worker thread let go well before its 120 s timeout: the server saw it close.
        assert await asyncio.to_thread(hung.closed.wait, 10)
    finally:
        hung.stop()


def test_https_goes_through_the_checked_connection_and_verifies_the_certificate(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = Recording("127.0.0.1", tls=context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    url = f"https://127.0.0.1:{server.port}/fw.whl"
    try:
        assert fetch(TargetPolicy(allow_private=True, ca_file=ca_file), url) == b"ok"
        with pytest.raises(TargetRefused, match="loopback"):
            fetch(TargetPolicy(ca_file=ca_file), url.replace("127.0.0.1", "2130706433"))
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(TargetPolicy(allow_private=True), url)  # not signed by a CA it trusts
    finally:
        server.close()
