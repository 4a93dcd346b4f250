"""The connector status OCPP 1.6 reports (StatusNotification), from the EVSE's state."""

from __future__ import annotations

from ukscp.ocpp.port import ChargerSnapshot

NO_ERROR = "NoError"


def connector_status(
    snapshot: ChargerSnapshot, transaction_active: bool, finished: bool = False
) -> tuple[str, str]:
    """``(status, error_code)`` of connector 1 (OCPP 1.6 section 4.9).

    IEC 61851 E (no pilot) is a fault; F is "EVSE not available". With an EV
    connected: charging while current flows through the closed contactor;
    otherwise suspended by the EVSE when it offers nothing (charging hours,
    a delay, a limit of 0) or by the EV when it is offered current and does
    not take it; ``Preparing`` before a transaction has begun and ``Finishing``
    once it ended (``finished``) while the EV is still plugged in.
    """
    state = snapshot.pilot_state
    if state == "E":
        return "Faulted", "OtherError"
    if state == "F":
        return "Unavailable", NO_ERROR
    if not snapshot.ev_connected:
        return "Available", NO_ERROR
    if not transaction_active:
        return ("Finishing" if finished else "Preparing"), NO_ERROR
    if snapshot.offered_a <= 0:
        return "SuspendedEVSE", NO_ERROR
    if snapshot.contactor_closed and state in ("C", "D"):
        return "Charging", NO_ERROR
    return "SuspendedEV", NO_ERROR
