"""Regulation 7 over OCPP 2.0.1, security events, GetLog and the Basic auth profiles.

The offline tests run the real charger (``build_app`` on the virtual clock, the
simulated EV) with the 2.0.1 client wired in as the composition root would.
"""

from __future__ import annotations

import json
from pathlib import Path

import trustme
from ocpp.v201 import call

from tests.integration.test_ocpp16_support import (
    IDENTITY,
    KEY,
    Received,
    UploadServer,
    eventually,
    until_real,
    write_key,
)
from tests.integration.test_ocpp16_tls import ca_file, server_context
from tests.integration.test_ocpp201_support import (
    csms201,
    make_charger201,
    running_csms201,
    start_real_charger201,
    transport_config201,
)
from ukscp.clock import VirtualClock
from ukscp.security.seclog import SecurityEventType


def transaction_sequence(received: list[Received]) -> list[tuple[str, str, int, str]]:
    """(eventType, transactionId, seqNo, timestamp) of every TransactionEvent, in arrival order."""
    return [
        (
            r.payload["event_type"],
            r.payload["transaction_info"]["transaction_id"],
            r.payload["seq_no"],
            r.payload["timestamp"],
        )
        for r in received
        if r.action == "TransactionEvent"
    ]


async def test_charging_goes_on_without_the_csms_and_the_events_arrive_once_in_order(
    tmp_path: Path, clock: VirtualClock
) -> None:
    csms = csms201()
    await csms.start()
    charger = start_real_charger201(tmp_path / "data", clock, csms.url, sample_interval_s=10)
    try:
        await eventually(lambda: charger.client.online, clock, what="registration")
        assert charger.app.sim is not None
        charger.app.sim.plug()
        # The CSMS dies between two exchanges: every event it received was answered.
        await eventually(
            lambda: len(csms.of("TransactionEvent")) >= 3 and len(charger.client.queue) == 0,
            clock,
            step_s=1,
        )

        await csms.kill()  # the CSMS dies mid-session: no closing handshake
        # Virtual time stands still until the charger knows: each event after is offline.
        await until_real(lambda: not charger.client.online, clock, what="disconnection")
        energy_before = charger.app.controller.status().session_energy_wh
        for _ in range(120):
            await clock.advance(1)
        status = charger.app.controller.status()
        assert status.power_w > 0  # still charging
        assert status.session_energy_wh > energy_before
        charger.app.sim.unplug()
        await eventually(lambda: charger.client.transaction is None, clock)
        queued = charger.client.queue.pending()
        assert queued[-1].payload["event_type"] == "Ended"
        assert all(m.payload.get("offline") for m in queued if m.action == "TransactionEvent")
        offline_events = sum(1 for m in queued if m.action == "TransactionEvent")
        assert offline_events >= 10
        # Only periodic samples may give way if the outage outgrows the queue's cap.
        samples = [m for m in queued if m.sheddable]
        assert samples
        assert all(m.payload["trigger_reason"] == "MeterValuePeriodic" for m in samples)
        assert not queued[-1].sheddable

        await csms.start()  # back, on the same address
        await eventually(lambda: len(charger.client.queue) == 0, clock, what="the queue")
    finally:
        await charger.stop()
        await csms.stop()

    after = [r for r in csms.received if r.connection == 2 and r.action == "TransactionEvent"]
    assert len(after) == offline_events
    sequence = transaction_sequence(csms.received)
    assert len({tx for _, tx, _, _ in sequence}) == 1
    assert [seq for _, _, seq, _ in sequence] == list(range(len(sequence)))  # once, in order
    stamps = [stamp for _, _, _, stamp in sequence]
    assert stamps == sorted(stamps)
    assert sequence[0][0] == "Started" and sequence[-1][0] == "Ended"


async def test_a_restart_while_offline_loses_nothing(tmp_path: Path, clock: VirtualClock) -> None:
    data = tmp_path / "data"
    csms = csms201()
    await csms.start()
    await csms.stop()  # the address is known; the CSMS is down from the start

    first = start_real_charger201(data, clock, csms.url, sample_interval_s=10)
    try:
        assert first.app.sim is not None
        first.app.sim.plug()
        for _ in range(60):
            await clock.advance(1)
        assert first.client.transaction is not None
        first_id = first.client.transaction.transaction_id
    finally:
        await first.stop()  # SIGTERM while offline, the EV still plugged in

    second = start_real_charger201(data, clock, csms.url, sample_interval_s=10)
    try:
        await eventually(
            lambda: second.client.transaction is not None, clock, what="restored session"
        )
        await csms.start()
        await eventually(lambda: len(second.client.queue) == 0, clock, what="the queue")
    finally:
        await second.stop()
        await csms.stop()

    sequence = transaction_sequence(csms.received)
    first_run = [s for s in sequence if s[1] == first_id]
    assert [seq for _, _, seq, _ in first_run] == list(range(len(first_run)))
    assert first_run[0][0] == "Started" and first_run[-1][0] == "Ended"
    assert len(first_run) >= 7  # the start, the samples of a minute, the end
    ended = next(
        r.payload
        for r in csms.received
        if r.action == "TransactionEvent" and r.payload["event_type"] == "Ended"
    )
    assert ended["transaction_info"]["stopped_reason"] == "Reboot"
    second_run = [s for s in sequence if s[1] != first_id]
    assert second_run[0][0] == "Started"  # the restored session is a new transaction
    startups = [
        e for e in csms.of("SecurityEventNotification") if e["type"] == "StartupOfTheDevice"
    ]
    assert len(startups) == 2  # one per start, each once


async def test_critical_security_events_wait_in_the_queue_until_delivered(
    tmp_path: Path, clock: VirtualClock
) -> None:
    write_key(tmp_path / "ocpp_key")
    csms = csms201()
    await csms.start()
    url = csms.url
    await csms.stop()
    charger = make_charger201(tmp_path, clock, transport_config201(url, tmp_path))
    charger.start()
    try:
        charger.seclog.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED, "lid opened")
        for _ in range(30):
            await clock.advance(1)
        assert any(m.action == "SecurityEventNotification" for m in charger.client.queue.pending())
        await csms.start()
        await eventually(
            lambda: any(
                e["type"] == "TamperDetectionActivated"
                for e in csms.of("SecurityEventNotification")
            ),
            clock,
        )
        await eventually(lambda: len(charger.client.queue) == 0, clock)
        assert charger.seclog.undelivered_critical() == []
    finally:
        await charger.stop()
        await csms.stop()


async def test_get_log_uploads_the_real_security_log(tmp_path: Path, clock: VirtualClock) -> None:
    write_key(tmp_path / "ocpp_key")
    uploads = UploadServer()
    location = uploads.start()
    try:
        async with running_csms201() as csms:
            charger = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
            charger.start()
            try:
                await eventually(lambda: charger.client.online, clock)
                charger.seclog.record(SecurityEventType.SETTING_SYSTEM_TIME, "clock set")
                answer = await csms.call(
                    call.GetLog(
                        log={"remote_location": location}, log_type="SecurityLog", request_id=21
                    )
                )
                assert answer.status == "Accepted"
                await eventually(
                    lambda: (
                        [s["status"] for s in csms.of("LogStatusNotification")][-1:] == ["Uploaded"]
                    ),
                    clock,
                )
            finally:
                await charger.stop()
    finally:
        uploads.stop()
    statuses = [(s["status"], s["request_id"]) for s in csms.of("LogStatusNotification")]
    assert statuses == [("Uploading", 21), ("Uploaded", 21)]
    _, path, body = uploads.uploads[0]
    assert path.startswith("/logs/") and path.endswith(".jsonl") and answer.filename in path
    records = [json.loads(line) for line in body.decode().splitlines()]
    assert any("SettingSystemTime" in json.dumps(r) for r in records)


async def test_basic_auth_under_profile_1(tmp_path: Path, clock: VirtualClock) -> None:
    write_key(tmp_path / "ocpp_key")
    async with running_csms201(basic_auth=(IDENTITY, KEY)) as csms:
        charger = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
        charger.start()
        try:
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
            assert csms.auth_failures == 0
        finally:
            await charger.stop()


async def test_basic_auth_over_tls_under_profile_2(tmp_path: Path, clock: VirtualClock) -> None:
    ca = trustme.CA()
    write_key(tmp_path / "ocpp_key")
    async with running_csms201(ssl_context=server_context(ca), basic_auth=(IDENTITY, KEY)) as csms:
        config = transport_config201(
            csms.url,
            tmp_path,
            security_profile=2,
            ca_file=ca_file(ca, tmp_path),
            allow_insecure_transport=False,
        )
        charger = make_charger201(tmp_path, clock, config)
        charger.start()
        try:
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
            assert csms.auth_failures == 0
            assert csms.url.startswith("wss://")
        finally:
            await charger.stop()


async def test_a_wrong_key_is_refused_and_logged(tmp_path: Path, clock: VirtualClock) -> None:
    write_key(tmp_path / "ocpp_key", "not-the-key-the-csms-knows")
    async with running_csms201(basic_auth=(IDENTITY, KEY)) as csms:
        charger = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
        charger.start()
        try:
            await eventually(lambda: csms.auth_failures >= 2, clock)
            assert not charger.client.online
            types = [r.type for r in charger.seclog.records()]
            assert "FailedToAuthenticateAtCentralSystem" in types
        finally:
            await charger.stop()
