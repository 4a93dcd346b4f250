"""The firmware update's route: the same request in both versions, under two names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ukscp.firmware.install import FirmwareInstaller
from ukscp.ocpp.blocks.firmware.updates import FirmwareUpdates, firmware_status_now
from ukscp.ocpp.blocks.trigger.core import Triggerable, TriggerTarget
from ukscp.ocpp.routes import Call, Result, Route
from ukscp.ocpp.v16.status import core_firmware_status

SIGNED_UPDATE_16 = "SignedUpdateFirmware"
"""OCPP 1.6 security whitepaper ed. 2."""
UPDATE_201 = "UpdateFirmware"
"""OCPP 2.0.1 L01."""


def routes(
    action: str,
    updates: FirmwareUpdates | None,
    result: Result,
    adopt: Callable[[asyncio.Task[None] | None], None],
) -> list[Route]:
    """``action`` answered by ``updates`` (None: no installer, every request Rejected).

    An accepted request's download, check, wait and install start once the
    answer has gone; ``adopt`` keeps that task.
    """

    def answer(call: Call) -> Any:
        status = "Rejected" if updates is None else updates.request(dict(call.wire))
        return result(action, status=status)

    def start(call: Call) -> None:
        if updates is not None:
            adopt(updates.start(call.args["request_id"]))

    return [Route(action, answer, start)]


def status_trigger(
    status_action: str,
    installer: FirmwareInstaller | None,
    request: Result,
    send_live: Callable[[Any], Awaitable[Any]],
) -> Triggerable:
    """The signed update's progress now, as ``status_action`` (1.6 security whitepaper's
    SignedFirmwareStatusNotification, 2.0.1 FirmwareStatusNotification)."""

    async def send(_: TriggerTarget) -> None:
        status, request_id = firmware_status_now(installer)
        await send_live(request(status_action, status=status, request_id=request_id))

    return Triggerable(send)


def core_status_trigger16(
    installer: FirmwareInstaller | None,
    request: Result,
    send_live: Callable[[Any], Awaitable[Any]],
) -> Triggerable:
    """1.6 Core's FirmwareStatusNotification: the signed update's progress in Core's words."""

    async def send(_: TriggerTarget) -> None:
        status, _request_id = firmware_status_now(installer)
        await send_live(request("FirmwareStatusNotification", status=core_firmware_status(status)))

    return Triggerable(send)
