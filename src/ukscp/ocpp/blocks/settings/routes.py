"""The settings block's route tables: 1.6 configuration keys, 2.0.1 device model.

A change that needs a new connection (the security profile, the Basic auth
password) is acted on once its answer has gone: ``after_change`` reconnects if
the change asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.blocks.settings.device_model201 import DeviceModel, Name
from ukscp.ocpp.blocks.settings.reports201 import base_report, variable_results
from ukscp.ocpp.routes import Call, Result, Route

_log = logging.getLogger(__name__)

BASE_REPORTS = ("FullInventory", "ConfigurationInventory")
"""The base reports offered (B07; SummaryInventory is optional and not offered)."""


def routes16(
    config: Configuration, after_change: Callable[[], None], result: Result
) -> list[Route]:
    """ChangeConfiguration and GetConfiguration (1.6 sections 5.3, 5.8)."""

    def change_configuration(call: Call) -> Any:
        key = call.args["key"]
        status = config.change(key, call.args["value"])
        _log.info("ChangeConfiguration %s: %s", key, status)
        return result("ChangeConfiguration", status=status)

    def get_configuration(call: Call) -> Any:
        known, unknown = config.listing(call.args.get("key"))
        return result(
            "GetConfiguration", configuration_key=known or None, unknown_key=unknown or None
        )

    return [
        Route("ChangeConfiguration", change_configuration, lambda _: after_change()),
        Route("GetConfiguration", get_configuration),
    ]


def routes201(
    model: DeviceModel,
    after_change: Callable[[], None],
    result: Result,
    request: Result,
    now: Callable[[], datetime],
    send_later: Callable[[list[Any]], None],
) -> list[Route]:
    """GetVariables (B06), SetVariables (B05) and GetBaseReport (B07).

    A base report's NotifyReport is sent once the answer has gone, best effort
    (the CSMS asks again if it is lost).
    """
    report_bases: dict[int, str] = {}  # request id -> report base, until its report is sent

    def get_variables(call: Call) -> Any:
        answers = variable_results(
            call.args["get_variable_data"], lambda name, kind, _: model.get(name, kind)
        )
        return result("GetVariables", get_variable_result=answers)

    def set_variable(name: Name, kind: str, value: str | None) -> tuple[str, str | None]:
        status = model.set(name, value or "", kind)
        _log.info("SetVariables %s.%s: %s", name.component, name.variable, status)
        return status, None

    def set_variables(call: Call) -> Any:
        answers = variable_results(call.args["set_variable_data"], set_variable, setting=True)
        return result("SetVariables", set_variable_result=answers)

    def get_base_report(call: Call) -> Any:
        report_base = call.args["report_base"]
        if report_base not in BASE_REPORTS:
            return result("GetBaseReport", status="NotSupported")
        report_bases[call.args["request_id"]] = report_base
        return result("GetBaseReport", status="Accepted")

    def notify_report(call: Call) -> None:
        request_id = call.args["request_id"]
        report_base = report_bases.pop(request_id, None)
        if report_base is None:
            return
        entries = model.report()
        if report_base == "ConfigurationInventory":
            entries = (e for e in entries if e.mutability != "ReadOnly")
        message = request(
            "NotifyReport",
            request_id=request_id,
            generated_at=ocpp_time(now()),
            seq_no=0,
            report_data=base_report(entries),
        )
        send_later([message])

    return [
        Route("GetVariables", get_variables),
        Route("SetVariables", set_variables, lambda _: after_change()),
        Route("GetBaseReport", get_base_report, notify_report),
    ]
