"""The pure parts of the OCPP 1.6 client: meter values, connector status, configuration.

(No websocket here; these live beside the OCPP 1.6 integration tests they support.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ukscp.clock import LONDON
from ukscp.ocpp.blocks.meter_values.readings import (
    SUPPORTED_MEASURANDS,
    decimal_text,
    next_aligned,
    ocpp_time,
    parse_measurands,
)
from ukscp.ocpp.blocks.meter_values.values16 import meter_value
from ukscp.ocpp.blocks.settings.configuration16 import Configuration, ExternalKey
from ukscp.ocpp.port import ChargerSnapshot
from ukscp.ocpp.v16._lib import payload_error
from ukscp.ocpp.v16.status import connector_status
from ukscp.settings_store import SettingsStore


def snapshot(**changes: Any) -> ChargerSnapshot:
    base: dict[str, Any] = {
        "pilot_state": "C",
        "ev_connected": True,
        "contactor_closed": True,
        "offered_a": 16.0,
        "phases": 1,
        "current_a": 15.9,
        "power_w": 3657.0,
        "energy_import_wh": 12345.6789,
        "energy_export_wh": 0.0,
        "session_id": "s",
    }
    base.update(changes)
    return ChargerSnapshot(**base)


def test_a_meter_value_carries_each_measurand_with_its_unit() -> None:
    at = datetime(2026, 6, 1, 12, 0, tzinfo=LONDON)
    value = meter_value(snapshot(), SUPPORTED_MEASURANDS, "Sample.Periodic", at)
    assert value["timestamp"] == "2026-06-01T11:00:00.000Z"
    units = {v["measurand"]: (v["value"], v["unit"]) for v in value["sampled_value"]}
    assert units == {
        "Energy.Active.Import.Register": ("12345.679", "Wh"),
        "Energy.Active.Export.Register": ("0", "Wh"),
        "Power.Active.Import": ("3657", "W"),
        "Current.Import": ("15.9", "A"),
        "Current.Offered": ("16", "A"),
    }


def test_a_reading_the_meter_cannot_give_is_left_out() -> None:
    value = meter_value(
        snapshot(current_a=None), SUPPORTED_MEASURANDS, "Sample.Clock", datetime.now(UTC)
    )
    assert "Current.Import" not in {v["measurand"] for v in value["sampled_value"]}


def test_export_is_not_a_negative_import() -> None:
    value = meter_value(
        snapshot(power_w=-2000.0), ["Power.Active.Import"], "Sample.Periodic", datetime.now(UTC)
    )
    assert value["sampled_value"][0]["value"] == "0"


def test_measurand_lists_are_checked() -> None:
    assert parse_measurands(" Current.Offered ,Energy.Active.Import.Register") == (
        "Current.Offered",
        "Energy.Active.Import.Register",
    )
    with pytest.raises(ValueError, match="Voltage"):
        parse_measurands("Voltage")


def test_decimal_text_has_no_exponent_or_trailing_zeros() -> None:
    assert decimal_text(1e-9) == "0"
    assert decimal_text(12000000.5) == "12000000.5"
    assert decimal_text(-0.0001) == "0"


def test_ocpp_time_is_utc_with_z() -> None:
    assert ocpp_time(datetime(2026, 1, 5, 0, 0, tzinfo=UTC)) == "2026-01-05T00:00:00.000Z"
    with pytest.raises(ValueError):
        ocpp_time(datetime(2026, 1, 5))  # noqa: DTZ001


@given(
    st.datetimes(
        # Hypothesis takes naive bounds and attaches the time zone itself.
        min_value=datetime(2025, 1, 1),  # noqa: DTZ001
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([60, 300, 900, 3600]),
)
def test_aligned_times_are_whole_intervals_from_local_midnight(
    now: datetime, interval: int
) -> None:
    due = next_aligned(now, interval)
    assert now < due <= now + timedelta(seconds=interval)
    local = due.astimezone(LONDON)
    midnight = datetime(local.year, local.month, local.day, tzinfo=LONDON)
    assert (due - midnight).total_seconds() % interval == 0


@pytest.mark.parametrize(
    ("changes", "transaction", "finished", "expected"),
    [
        ({"pilot_state": "A", "ev_connected": False}, False, False, "Available"),
        ({"pilot_state": "B", "contactor_closed": False}, False, False, "Preparing"),
        ({}, True, False, "Charging"),
        ({"offered_a": 0.0, "contactor_closed": False}, True, False, "SuspendedEVSE"),
        ({"pilot_state": "B", "contactor_closed": False}, True, False, "SuspendedEV"),
        ({"pilot_state": "B"}, False, True, "Finishing"),
        ({"pilot_state": "F", "ev_connected": False}, False, False, "Unavailable"),
        ({"pilot_state": "E", "ev_connected": False}, False, False, "Faulted"),
    ],
)
def test_connector_status_follows_the_evse(
    changes: dict[str, Any], transaction: bool, finished: bool, expected: str
) -> None:
    status, _ = connector_status(snapshot(**changes), transaction, finished)
    assert status == expected


def test_configuration_persists_changes_and_keeps_write_only_keys_hidden(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "s.sqlite3")
    secret: list[str] = []
    keys = [ExternalKey("AuthorizationKey", get=None, set=lambda v: secret.append(v) or "Accepted")]
    configuration = Configuration(store, keys)
    assert configuration.change("metervaluesampleinterval", "1") == "Accepted"
    assert configuration.change("AuthorizationKey", "x" * 20) == "Accepted"
    assert configuration.change("HeartbeatInterval", "1" * 501) == "Rejected"
    assert secret == ["x" * 20]
    reopened = Configuration(store, keys)
    assert reopened.int_value("MeterValueSampleInterval") == 1
    known, unknown = reopened.listing(None)
    assert "AuthorizationKey" not in {entry["key"] for entry in known}
    assert unknown == []
    store.close()


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("Reset", {"type": "Hard"}, None),
        ("Reset", {"type": "Hard", "now": True}, "FormationViolation"),
        ("Reset", {"type": "Later"}, "PropertyConstraintViolation"),
        ("Reset", {"type": 1}, "TypeConstraintViolation"),
        ("Reset", {}, "ProtocolError"),
        ("Reset", [], "FormationViolation"),
        ("NoSuchAction", {}, None),
    ],
)
def test_payload_errors_use_the_ocpp_16_codes(action: str, payload: Any, code: str | None) -> None:
    problem = payload_error(action, payload)
    assert (None if problem is None else problem.code) == code  # type: ignore[attr-defined]
