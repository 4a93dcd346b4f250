"""The status notifications of a firmware install, and the order they come in.

The words are the same in OCPP 1.6 (security whitepaper ed. 2,
SignedFirmwareStatusNotification) and 2.0.1 (FirmwareStatusNotification).
:func:`next_status` says which one a step of the install sends, from a table
(:data:`TRANSITIONS`), so the order is data a test can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class FirmwareStatus(StrEnum):
    """Firmware status words, the same in OCPP 1.6 (security whitepaper) and 2.0.1."""

    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"



class Step(StrEnum):
    """What happened in an install, as the shell reports it to :func:`next_status`."""

    DOWNLOAD_WAIT = "download_wait"  # retrieveDateTime is still ahead
    DOWNLOAD_START = "download_start"
    DOWNLOAD_OK = "download_ok"
    DOWNLOAD_GAVE_UP = "download_gave_up"  # every attempt failed
    SIGNATURE_OK = "signature_ok"
    SIGNATURE_BAD = "signature_bad"
    REFUSED = "refused"  # not a ukscp wheel, or an older version
    INSTALL_WAIT = "install_wait"  # installDateTime is still ahead
    INSTALL_START = "install_start"
    INSTALL_OK = "install_ok"  # unpacked into its slot and made active: restart into it
    INSTALL_FAILED = "install_failed"
    # After the restart (reported by the launcher or by the new firmware itself):
    BOOT_OK = "boot_ok"  # the new firmware started and became ready
    BOOT_REFUSED = "boot_refused"  # its slot changed since the install: not started
    BOOT_FAILED = "boot_failed"  # it died (or hung) before becoming ready


S = FirmwareStatus
_BEFORE_DOWNLOAD = (None, S.DOWNLOAD_SCHEDULED)
_VERIFIED = (S.SIGNATURE_VERIFIED, S.INSTALL_SCHEDULED)

TRANSITIONS: Mapping[tuple[FirmwareStatus | None, Step], FirmwareStatus] = MappingProxyType(
    {
        (None, Step.DOWNLOAD_WAIT): S.DOWNLOAD_SCHEDULED,
        **{(at, Step.DOWNLOAD_START): S.DOWNLOADING for at in _BEFORE_DOWNLOAD},
        (S.DOWNLOADING, Step.DOWNLOAD_OK): S.DOWNLOADED,
        (S.DOWNLOADING, Step.DOWNLOAD_GAVE_UP): S.DOWNLOAD_FAILED,
        (S.DOWNLOADED, Step.SIGNATURE_OK): S.SIGNATURE_VERIFIED,
        (S.DOWNLOADED, Step.SIGNATURE_BAD): S.INVALID_SIGNATURE,
        (S.SIGNATURE_VERIFIED, Step.REFUSED): S.INSTALLATION_FAILED,
        (S.SIGNATURE_VERIFIED, Step.INSTALL_WAIT): S.INSTALL_SCHEDULED,
        **{(at, Step.INSTALL_START): S.INSTALLING for at in _VERIFIED},
        (S.INSTALLING, Step.INSTALL_OK): S.INSTALL_REBOOTING,
        (S.INSTALLING, Step.INSTALL_FAILED): S.INSTALLATION_FAILED,
        # OCPP 1.6 security whitepaper ed. 2 / 2.0.1 L01: InstallRebooting before the
        # restart; Installed only once the new firmware runs, from the new firmware.
        (S.INSTALL_REBOOTING, Step.BOOT_OK): S.INSTALLED,
        (S.INSTALL_REBOOTING, Step.BOOT_REFUSED): S.INSTALL_VERIFICATION_FAILED,
        (S.INSTALL_REBOOTING, Step.BOOT_FAILED): S.INSTALLATION_FAILED,
    }
)
"""(last status sent, step) -> the status to send. A pair not listed is a bug of the shell."""

FINAL: frozenset[FirmwareStatus] = frozenset(
    {
        S.DOWNLOAD_FAILED,
        S.INVALID_SIGNATURE,
        S.INSTALLED,
        S.INSTALLATION_FAILED,
        S.INSTALL_VERIFICATION_FAILED,
    }
)
"""After these, the request is over."""


def next_status(current: FirmwareStatus | None, step: Step) -> FirmwareStatus:
    """The status notification for ``step`` after ``current``; ValueError when out of order."""
    status = TRANSITIONS.get((current, step))
    if status is None:
        raise ValueError(f"step {step} cannot follow status {current}")
    return status
