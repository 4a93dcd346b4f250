"""The firmware update's route: the same request in both versions, under two names."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ukscp.ocpp.firmware.updates import FirmwareUpdates
from ukscp.ocpp.routes import Call, Result, Route

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
