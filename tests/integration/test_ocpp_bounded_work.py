"""What a back end can make the charger do is bounded: GetLog's retries, targets and overlap.

A real OCPP 1.6 central system (the ``ocpp`` library, 127.0.0.1) asks; the uploads
go to real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    TEST_OPTIONS,
    Charger,
    CsmsServer,
    HungServer,
    UploadServer,
    eventually,
    make_charger,
    running_csms,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms() as server:
        yield server


async def started(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, **options: object
) -> Charger:
    write_key(tmp_path / "ocpp_key")
    chosen = dataclasses.replace(TEST_OPTIONS, **options)  # type: ignore[arg-type]
    charger = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path), options=chosen)
    charger.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    return charger


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    built = await started(tmp_path, clock, csms)  # a lab: uploads to 127.0.0.1 allowed
    yield built
    await built.stop()


@pytest.fixture
async def in_service(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> AsyncIterator[Charger]:
    """A charger as shipped: no upload to a loopback, link-local or private address."""
    built = await started(tmp_path, clock, csms, allow_private_targets=False)
    yield built
    await built.stop()


def get_log(location: str, request_id: int = 1, **retries: int) -> call.GetLog:
    return call.GetLog(
        log={"remoteLocation": location}, log_type="SecurityLog", request_id=request_id, **retries
    )


def statuses(csms: CsmsServer) -> list[str]:
    return [s["status"] for s in csms.of("LogStatusNotification")]


async def test_a_million_retries_without_a_pause_become_six_attempts_30_s_apart(
    charger: Charger, csms: CsmsServer, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ukscp.ocpp.blocks.logs.upload")
    server = UploadServer(status=500, clock=clock)
    location = server.start()
    try:
        answer = await csms.call(get_log(location, retries=1_000_000, retry_interval=0))
        assert answer.status == "Accepted"
        await eventually(lambda: "UploadFailure" in statuses(csms), clock, step_s=5)
    finally:
        server.stop()
    assert statuses(csms) == ["Uploading", "UploadFailure"]
    assert len(server.uploads) == 6  # the first attempt and 5 retries
    assert all(b - a >= 30 for a, b in zip(server.times, server.times[1:], strict=False))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/logs/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/logs/",
        "http://[::1]:{port}/logs/",
        "http://10.0.0.8/logs/",
    ],
)
async def test_get_log_to_this_chargers_own_network_is_rejected(
    in_service: Charger, csms: CsmsServer, location: str
) -> None:
    server = UploadServer()
    server.start()
    assert server.server is not None
    try:
        url = location.format(port=server.server.server_address[1])
        answer = await csms.call(get_log(url))
    finally:
        server.stop()
    assert answer.status == "Rejected"
    assert server.uploads == []


async def test_a_name_that_resolves_to_loopback_fails_at_once_without_retries(
    in_service: Charger, csms: CsmsServer, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ukscp.ocpp.blocks.logs.upload")
    server = UploadServer()
    server.start()
    assert server.server is not None
    # 2130706433 is 127.0.0.1 as one number: a host name to the URL, loopback once resolved.
    location = f"http://2130706433:{server.server.server_address[1]}/logs/"
    try:
        answer = await csms.call(get_log(location, retries=5, retry_interval=30))
        assert answer.status == "Accepted"
        await eventually(lambda: "UploadFailure" in statuses(csms), clock)
    finally:
        server.stop()
    assert server.uploads == []
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "loopback" in refusals[0], refusals


async def test_a_new_get_log_cancels_the_running_upload_and_its_connection_at_once(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> None:
    # The upload timeout is long: only cancelling the upload lets its connection go early.
    charger = await started(tmp_path, clock, csms, upload_timeout_s=120.0)
    hung, server = HungServer(), UploadServer()
    location = server.start()
    try:
        first = await csms.call(get_log(hung.url("/logs/"), request_id=1))
        assert first.status == "Accepted"
        assert await asyncio.to_thread(hung.accepted.wait, 10)
        second = await csms.call(get_log(location, request_id=2))
        assert second.status == "AcceptedCanceled"
        assert await asyncio.to_thread(hung.closed.wait, 10), "the first upload still runs"
        await eventually(lambda: len(server.uploads) == 1, clock)
    finally:
        hung.stop()
        server.stop()
        await charger.stop()
