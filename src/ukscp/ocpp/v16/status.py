"""The connector status OCPP 1.6 reports (StatusNotification), from the EVSE's state."""

from __future__ import annotations

from ukscp.ocpp.port import ChargerSnapshot

NO_ERROR = "NoError"


def connector_status(
    snapshot: ChargerSnapshot,
    transaction_active: bool,
    finished: bool = False,
    operative: bool = True,
) -> tuple[str, str]:
    """``(status, error_code)`` of connector 1 (OCPP 1.6 section 4.9).

    IEC 61851 E (no pilot) is a fault; F is "EVSE not available". With an EV
    connected: charging while current flows through the closed contactor;
    otherwise suspended by the EVSE when it offers nothing (charging hours,
    a delay, a limit of 0) or by the EV when it is offered current and does
    not take it; ``Preparing`` before a transaction has begun and ``Finishing``
    once it ended (``finished``) while the EV is still plugged in. Out of
    service (ChangeAvailability Inoperative, not ``operative``) it is
    Unavailable, plugged in or not; a fault still shows as Faulted.
    """
    state = snapshot.pilot_state
    if state == "E":
        return "Faulted", "OtherError"
    if state == "F" or not operative:
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


# The security whitepaper's firmware status words -> OCPP 1.6 core FirmwareStatusNotification's.
_CORE_FIRMWARE_STATUS: dict[str, str] = {
    "Idle": "Idle",
    "DownloadScheduled": "Idle",  # nothing done yet
    "DownloadPaused": "Downloading",
    "Downloading": "Downloading",
    "Downloaded": "Downloaded",
    "SignatureVerified": "Downloaded",
    "InstallScheduled": "Downloaded",
    "DownloadFailed": "DownloadFailed",
    "InvalidSignature": "InstallationFailed",
    "InstallVerificationFailed": "InstallationFailed",
    "InstallationFailed": "InstallationFailed",
    "Installing": "Installing",
    "InstallRebooting": "Installing",
    "Installed": "Installed",
}


def core_firmware_status(status: str) -> str:
    """A (signed) firmware status as 1.6 core FirmwareStatusNotification can say it.

    The core message knows seven words; the signed update's finer steps map to
    the nearest (a verified or scheduled download is Downloaded, a refused
    signature an InstallationFailed, the restart into it Installing).
    """
    return _CORE_FIRMWARE_STATUS.get(status, "Idle")
