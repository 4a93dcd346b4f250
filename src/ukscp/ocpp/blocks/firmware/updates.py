"""Signed firmware from the CSMS, over the firmware installer, for either OCPP version.

OCPP 1.6 SignedUpdateFirmware (Security Whitepaper, edition 2) and OCPP 2.0.1
UpdateFirmware (L01) carry the same request (requestId, retries, retryInterval,
firmware: location, retrieveDateTime, installDateTime, signingCertificate,
signature), the same answers and the same status words; only the name of the
status message differs (SignedFirmwareStatusNotification, FirmwareStatusNotification).
So only the wire lives here: the request's camelCase payload becomes a
version-neutral :class:`~ukscp.firmware.request.FirmwareRequest`, the installer's
answer becomes the ``status`` of the response, and each status the installer
reports becomes a status notification (with the requestId) written to the
persistent queue first, so that none is lost while the CSMS is unreachable and
they arrive in order after a reconnect. Everything else (certificate, download,
signature, slots) is :class:`~ukscp.firmware.install.FirmwareInstaller`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ukscp.firmware.install import FirmwareInstaller
from ukscp.firmware.request import FirmwareRequest, UpdateAnswer
from ukscp.firmware.status import FirmwareStatus
from ukscp.ocpp.queue import MessageQueue
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

STATUS_16 = "SignedFirmwareStatusNotification"
STATUS_201 = "FirmwareStatusNotification"


def _when(text: object, field: str) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"{field} is missing")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field} is not an ISO 8601 time: {text!r}") from None
    # OCPP times are UTC; one without an offset is read as UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def firmware_request(payload: dict[str, Any]) -> FirmwareRequest:
    """The request in a (Signed)UpdateFirmware payload (camelCase); ValueError if unusable."""
    firmware = payload.get("firmware")
    if not isinstance(firmware, dict):
        raise ValueError("firmware is missing")
    install = firmware.get("installDateTime")
    retries, interval = payload.get("retries"), payload.get("retryInterval")
    return FirmwareRequest(
        request_id=int(payload["requestId"]),
        location=str(firmware["location"]),
        retrieve_at=_when(firmware.get("retrieveDateTime"), "retrieveDateTime"),
        install_at=None if install is None else _when(install, "installDateTime"),
        signing_certificate=str(firmware["signingCertificate"]),
        signature=str(firmware["signature"]),
        retries=None if retries is None else int(retries),
        retry_interval_s=None if interval is None else int(interval),
    )


class FirmwareUpdates:
    """An OCPP client's side of the installer: implements its ``FirmwareHost``."""

    def __init__(
        self,
        installer: FirmwareInstaller,
        *,
        status_action: str,
        queue: MessageQueue,
        wake_sender: Callable[[], None],
        session_active: Callable[[], bool],
        restart: Callable[[], Awaitable[None]],
        seclog: SecurityLog,
    ) -> None:
        self._installer = installer
        self._status_action = status_action
        self._queue = queue
        self._wake_sender = wake_sender
        self._session_active = session_active
        self._restart = restart
        self._seclog = seclog
        installer.attach(self)

    def request(self, payload: dict[str, Any]) -> str:
        """The status of the response to ``payload`` (the wire's camelCase)."""
        try:
            parsed = firmware_request(payload)
        except (KeyError, TypeError, ValueError) as exc:
            _log.warning("firmware update refused: %s", exc)
            return UpdateAnswer.REJECTED.value
        return self._installer.accept(parsed).answer.value

    def start(self, request_id: int) -> asyncio.Task[None] | None:
        """Run the accepted request (the answer has been sent)."""
        return self._installer.start(request_id)

    # -- FirmwareHost --

    def firmware_status(self, status: FirmwareStatus, request_id: int) -> None:
        """Queue the status notification; the sender delivers it in order."""
        self._queue.put(self._status_action, {"status": status.value, "request_id": request_id})
        self._wake_sender()

    def charging_session_active(self) -> bool:
        """An EV connected or a transaction open."""
        return self._session_active()

    def restart_for_firmware(self) -> Awaitable[None]:
        """Deliver the queue (briefly), then restart as a CSMS Reset does."""
        self._seclog.record(
            SecurityEventType.RESET_OR_REBOOT, "restart into the newly installed firmware"
        )
        return self._restart()


def firmware_status_now(installer: FirmwareInstaller | None) -> tuple[str, int | None]:
    """The firmware status a triggered notification reports: ``(status, requestId or None)``.

    As the 1.6 security whitepaper (SignedFirmwareStatusNotification) and
    2.0.1 L01 say: Idle, without a requestId, when no firmware update was
    started or the last status sent was Installed; otherwise the last status
    sent, with the request's id.
    """
    job = None if installer is None else installer.job
    if job is None or job.status in (None, FirmwareStatus.IDLE, FirmwareStatus.INSTALLED):
        return "Idle", None
    assert job.status is not None
    return job.status.value, job.request_id
