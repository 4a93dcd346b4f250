"""What OCPP 2.0.1 reports of the connector, from the EVSE's IEC 61851 state.

Two views: the connector's status (StatusNotification, 2.0.1 G01) and the
charging state of a transaction (TransactionEvent's ``transactionInfo``).
"""

from __future__ import annotations

from ukscp.ocpp.port import ChargerSnapshot


def connector_status(snapshot: ChargerSnapshot, operative: bool = True) -> str:
    """ConnectorStatusEnumType of connector 1.

    IEC 61851 E (no pilot) is a fault; F is "EVSE not available", and so is a
    station the CSMS made Inoperative (G03/G04, not ``operative``). Otherwise
    the connector is Occupied while an EV is plugged in, Available when not.
    (2.0.1 moved "charging", "suspended" and the like out of the connector
    status into the transaction's chargingState.)
    """
    state = snapshot.pilot_state
    if state == "E":
        return "Faulted"
    if state == "F" or not operative:
        return "Unavailable"
    return "Occupied" if snapshot.ev_connected else "Available"


def charging_state(snapshot: ChargerSnapshot) -> str:
    """ChargingStateEnumType of the open transaction.

    Charging while current flows through the closed contactor; SuspendedEVSE
    when the charger offers nothing (charging hours, a delay, a limit of 0);
    SuspendedEV when offered current the EV does not take; EVConnected before
    that is known; Idle once the EV has gone.
    """
    if not snapshot.ev_connected:
        return "Idle"
    if snapshot.offered_a <= 0:
        return "SuspendedEVSE"
    if snapshot.contactor_closed and snapshot.pilot_state in ("C", "D"):
        return "Charging"
    if snapshot.pilot_state == "B":
        return "SuspendedEV"
    return "EVConnected"
