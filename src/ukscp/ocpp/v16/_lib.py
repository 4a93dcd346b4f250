"""The typed edge over the untyped ``ocpp`` package (OCPP 1.6 part).

Everything the 1.6 client takes from ``ocpp`` passes through here (the parts
every version shares are in :mod:`ukscp.ocpp._lib`). Messages are built by
action name (``request("Heartbeat")``), so no other module imports ``ocpp``.

It also gives the CALLERROR codes OCPP 1.6J asks for: the ``ocpp`` package
answers a malformed payload with 2.0.1's ``FormatViolation`` and an out-of-range
value the same way; :func:`payload_error` classifies a payload as 1.6 does
(``FormationViolation``, ``PropertyConstraintViolation``, ...).
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import ChargePoint as _ChargePoint  # type: ignore[import-untyped]
from ocpp.v16 import call as _call
from ocpp.v16 import call_result as _call_result
from ocpp.v16.enums import Action as _Action  # type: ignore[import-untyped]

from ukscp.ocpp._lib import (
    CONSTRAINT_ERRORS,
    OcppError,
    after,
    error,
    error_code,
    on,
    schema_error,
)
from ukscp.ocpp.router import FrameErrors, GuardedRouter

__all__ = [
    "OCPP_VERSION",
    "OcppError",
    "Router",
    "after",
    "error",
    "error_code",
    "on",
    "payload_error",
    "request",
    "result",
]


OCPP_VERSION = "1.6"
# The library validates these with decimal floats (their schemas use multipleOf 0.1);
# its validator cache ignores the float parser, so we must ask the same way.
_DECIMAL_ACTIONS = frozenset({"SetChargingProfile", "RemoteStartTransaction"})

# JSON-schema keyword -> OCPP 1.6J error code (OCPP-J 1.6 section 4.2.3).
_ERROR_BY_KEYWORD: dict[str, str] = {
    **CONSTRAINT_ERRORS,
    "additionalProperties": "FormationViolationError",
    "required": "ProtocolError",
    "minItems": "OccurenceConstraintViolationError",
    "maxItems": "OccurenceConstraintViolationError",
}


def request(action: str, **fields: Any) -> Any:
    """The ``ocpp.v16.call`` message for ``action`` (snake_case fields)."""
    return getattr(_call, action)(**fields)


def result(action: str, **fields: Any) -> Any:
    """The ``ocpp.v16.call_result`` answer to ``action`` (snake_case fields)."""
    return getattr(_call_result, action)(**fields)


def payload_error(action: str, payload: Any) -> Exception | None:
    """The OCPP 1.6J CALLERROR for a request payload the schema refuses, or None if valid.

    Actions without a schema (unknown to 1.6) are left to the router, which
    answers NotImplemented.
    """
    return schema_error(
        OCPP_VERSION,
        action,
        payload,
        errors_by_keyword=_ERROR_BY_KEYWORD,
        not_an_object="FormationViolationError",
        fallback="FormationViolationError",
        decimal_floats=action in _DECIMAL_ACTIONS,
    )


class Router(GuardedRouter, _ChargePoint):  # type: ignore[misc]  # the library is untyped
    """``ocpp.v16.ChargePoint`` behind the frame checks: one connection's message router.

    OCPP-J 1.6 (section 4.2.3) has ``FormationViolation`` for a malformed frame and
    no code for a frame whose message id cannot be read: that one is not answered.
    """

    frame_errors = FrameErrors(
        format="FormationViolation", unknown_type="FormationViolation", unreadable=None
    )
    known_actions = frozenset(action.value for action in _Action)
    payload_error = staticmethod(payload_error)
