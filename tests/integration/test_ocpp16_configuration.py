"""ChangeConfiguration / GetConfiguration against a real central system.

Includes the keys with security weight: AuthorizationKey (write-only, and the
next connection uses it), SecurityProfile (never lowered over OCPP), and the
regulation 11 vendor key UkRandomDelayMaxDuration.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    IDENTITY,
    KEY,
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms(basic_auth=(IDENTITY, KEY)) as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


async def change(csms: CsmsServer, key: str, value: str) -> str:
    answer = await csms.call(call.ChangeConfiguration(key=key, value=value))
    return str(answer.status)


async def get(csms: CsmsServer, *keys: str) -> tuple[dict[str, dict[str, object]], list[str]]:
    answer = await csms.call(call.GetConfiguration(key=list(keys) or None))
    known = {entry["key"]: entry for entry in answer.configuration_key or []}
    return known, list(answer.unknown_key or [])


async def test_intervals_and_measurands_can_be_changed_and_read_back(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await change(csms, "MeterValueSampleInterval", "1") == "Accepted"
    assert await change(csms, "ClockAlignedDataInterval", "900") == "Accepted"
    assert await change(csms, "HeartbeatInterval", "120") == "Accepted"
    assert (
        await change(
            csms, "MeterValuesSampledData", "Energy.Active.Import.Register,Current.Offered"
        )
        == "Accepted"
    )
    known, unknown = await get(
        csms,
        "MeterValueSampleInterval",
        "ClockAlignedDataInterval",
        "heartbeatinterval",
        "MeterValuesSampledData",
    )
    assert unknown == []
    assert known["MeterValueSampleInterval"] == {
        "key": "MeterValueSampleInterval",
        "readonly": False,
        "value": "1",
    }
    assert known["ClockAlignedDataInterval"]["value"] == "900"
    assert known["HeartbeatInterval"]["value"] == "120"
    assert (
        known["MeterValuesSampledData"]["value"] == "Energy.Active.Import.Register,Current.Offered"
    )


async def test_bad_values_read_only_and_unknown_keys_are_refused(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await change(csms, "MeterValueSampleInterval", "soon") == "Rejected"
    assert await change(csms, "MeterValueSampleInterval", "-1") == "Rejected"
    assert await change(csms, "MeterValuesSampledData", "Temperature") == "Rejected"
    assert await change(csms, "NumberOfConnectors", "2") == "Rejected"
    assert await change(csms, "NoSuchKey", "1") == "NotSupported"
    known, unknown = await get(csms, "NoSuchKey", "NumberOfConnectors")
    assert unknown == ["NoSuchKey"]
    assert known["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "1",
    }


async def test_authorization_key_is_write_only(charger: Charger, csms: CsmsServer) -> None:
    everything, _ = await get(csms)
    named, unknown = await get(csms, "AuthorizationKey")
    assert "AuthorizationKey" not in everything
    assert named == {}
    assert unknown == []  # a key we have, just not one we show
    assert KEY not in str(everything)
    assert "SecurityProfile" in everything
    assert "UkRandomDelayMaxDuration" in everything
    assert everything["UkRandomDelayEnabled"] == {
        "key": "UkRandomDelayEnabled",
        "readonly": False,
        "value": "true",
    }


async def test_a_new_authorization_key_is_stored_privately_and_used_to_reconnect(
    charger: Charger, csms: CsmsServer, tmp_path: Path
) -> None:
    new_key = "b-fresh-key-from-the-csms-42"
    csms.basic_auth = (IDENTITY, new_key)  # the CSMS expects the new key from now on
    assert await change(csms, "AuthorizationKey", new_key) == "Accepted"
    await eventually(lambda: csms.connection_count == 2, charger.clock, what="reconnection")
    await eventually(lambda: len(csms.of("BootNotification")) == 2, charger.clock)
    key_file = tmp_path / "ocpp_key"
    assert key_file.read_text().strip() == new_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert csms.auth_failures == 0
    infos = [
        r.info for r in charger.seclog.records() if r.type == "ReconfigurationOfSecurityParameters"
    ]
    assert infos == ["AuthorizationKey changed by the CSMS"]
    assert all(new_key not in r.info for r in charger.seclog.records())


async def test_a_too_short_authorization_key_is_rejected(
    charger: Charger, csms: CsmsServer, tmp_path: Path
) -> None:
    assert await change(csms, "AuthorizationKey", "short") == "Rejected"
    assert (tmp_path / "ocpp_key").read_text().strip() == KEY


async def test_the_security_profile_is_never_lowered_over_ocpp(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await change(csms, "SecurityProfile", "0") == "Rejected"
    refused = [r for r in charger.seclog.records() if r.type == "SecurityProfileDowngradeRefused"]
    assert len(refused) == 1
    assert "stays 1" in refused[0].info
    assert await change(csms, "SecurityProfile", "1") == "Accepted"  # unchanged
    # Profile 2 needs TLS, which this ws:// lab connection cannot give.
    assert await change(csms, "SecurityProfile", "2") == "Rejected"
    known, _ = await get(csms, "SecurityProfile")
    assert known["SecurityProfile"]["value"] == "1"


async def test_uk_random_delay_max_duration_is_the_regulation_11_remote_setting(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await change(csms, "UkRandomDelayMaxDuration", "900") == "Accepted"
    assert charger.port.delay_max_s == 900
    assert await change(csms, "UkRandomDelayMaxDuration", "1801") == "Rejected"
    assert await change(csms, "UkRandomDelayMaxDuration", "-1") == "Rejected"
    assert await change(csms, "UkRandomDelayMaxDuration", "ten") == "Rejected"
    assert charger.port.delay_max_s == 900
    known, _ = await get(csms, "UkRandomDelayMaxDuration")
    assert known["UkRandomDelayMaxDuration"] == {
        "key": "UkRandomDelayMaxDuration",
        "readonly": False,
        "value": "900",
    }


async def test_a_wrong_key_is_refused_by_the_csms_and_logged_once(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> None:
    write_key(tmp_path / "ocpp_key", "a-wrong-key-for-this-charger")
    charger = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
    charger.start()
    try:
        await eventually(lambda: csms.auth_failures >= 3, clock, what="three refused attempts")
        assert csms.connection_count == 0
        failures = [
            r for r in charger.seclog.records() if r.type == "FailedToAuthenticateAtCentralSystem"
        ]
        assert len(failures) == 1
        assert "401" in failures[0].info
        write_key(tmp_path / "ocpp_key")  # provisioned with the right key: the next attempt works
        await eventually(lambda: "BootNotification" in csms.actions(), clock)
    finally:
        await charger.stop()
