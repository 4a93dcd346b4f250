"""GetLog's route, the same for OCPP 1.6 (security whitepaper ed. 2) and 2.0.1 (N01)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ukscp.ocpp.blocks.logs.upload import LogUploads
from ukscp.ocpp.blocks.trigger.core import Triggerable, TriggerTarget
from ukscp.ocpp.routes import Call, Result, Route


def routes(
    uploads: LogUploads, result: Result, adopt: Callable[[asyncio.Task[None] | None], None]
) -> list[Route]:
    """GetLog, answered with ``result`` (the version's); ``adopt`` keeps the upload's task."""

    def get_log(call: Call) -> Any:
        args = call.args
        status, filename = uploads.accept(
            args["log_type"],
            args["request_id"],
            str(args["log"].get("remote_location", "")),
            args.get("retries"),
            args.get("retry_interval"),
        )
        return result("GetLog", status=status, filename=filename)

    return [Route("GetLog", get_log, lambda call: adopt(uploads.start(call.args["request_id"])))]


def status_trigger(
    uploads: LogUploads, request: Result, send_live: Callable[[Any], Awaitable[Any]]
) -> Triggerable:
    """LogStatusNotification: the upload's status now (Idle when none runs)."""

    async def send(_: TriggerTarget) -> None:
        status, request_id = uploads.current()
        await send_live(request("LogStatusNotification", status=status, request_id=request_id))

    return Triggerable(send)


def diagnostics_status_trigger16(
    request: Result, send_live: Callable[[Any], Awaitable[Any]]
) -> Triggerable:
    """1.6 DiagnosticsStatusNotification: always Idle, for GetDiagnostics is not offered
    (GetLog is), so nothing ever uploads diagnostics."""

    async def send(_: TriggerTarget) -> None:
        await send_live(request("DiagnosticsStatusNotification", status="Idle"))

    return Triggerable(send)
