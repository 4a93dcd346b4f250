"""The typed edge over the untyped ``ocpp`` package (OCPP 2.0.1 part).

Everything the 2.0.1 client takes from ``ocpp.v201`` passes through here (the
parts every version shares are in :mod:`ukscp.ocpp._lib`). Messages are built
by action name (``request("Heartbeat")``) with snake_case fields.

:func:`payload_error` answers a request the 2.0.1 schema refuses with the
CALLERROR code OCPP-J 2.0.1 (part 4, section 4.3) gives it: the ``ocpp``
package alone answers an out-of-range or misspelt value with
``FormatViolation``, where the standard says ``PropertyConstraintViolation``,
and a missing field with ``ProtocolError``, where it says
``OccurrenceConstraintViolation``.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import ChargePoint as _ChargePoint  # type: ignore[import-untyped]
from ocpp.v201 import call as _call
from ocpp.v201 import call_result as _call_result
from ocpp.v201.enums import Action as _Action  # type: ignore[import-untyped]

from ukscp.ocpp._lib import CONSTRAINT_ERRORS, schema_error
from ukscp.ocpp.router import FrameErrors, GuardedRouter

OCPP_VERSION = "2.0.1"


# JSON-schema keyword -> OCPP-J 2.0.1 error code.
_ERROR_BY_KEYWORD: dict[str, str] = {
    **CONSTRAINT_ERRORS,
    "additionalProperties": "FormatViolationError",
    "required": "OccurrenceConstraintViolationError",
    "minItems": "OccurrenceConstraintViolationError",
    "maxItems": "OccurrenceConstraintViolationError",
}


def request(action: str, **fields: Any) -> Any:
    """The ``ocpp.v201.call`` message for ``action`` (snake_case fields)."""
    return getattr(_call, action)(**fields)


def result(action: str, **fields: Any) -> Any:
    """The ``ocpp.v201.call_result`` answer to ``action`` (snake_case fields)."""
    return getattr(_call_result, action)(**fields)


def payload_error(action: str, payload: Any) -> Exception | None:
    """The OCPP-J 2.0.1 CALLERROR for a request payload the schema refuses, or None if valid."""
    return schema_error(
        OCPP_VERSION,
        action,
        payload,
        errors_by_keyword=_ERROR_BY_KEYWORD,
        not_an_object="FormatViolationError",
        fallback="FormatViolationError",
    )


class Router(GuardedRouter, _ChargePoint):  # type: ignore[misc]  # the library is untyped
    """``ocpp.v201.ChargePoint`` behind the frame checks: one connection's message router.

    OCPP-J 2.0.1 part 4: ``FormatViolation`` for a malformed frame,
    ``MessageTypeNotSupported`` for an unknown message type (section 4.4) and
    ``RpcFrameworkError`` with message id ``"-1"`` when the id cannot be read.
    """

    frame_errors = FrameErrors(
        format="FormatViolation",
        unknown_type="MessageTypeNotSupported",
        unreadable="RpcFrameworkError",
    )
    known_actions = frozenset(action.value for action in _Action)
    payload_error = staticmethod(payload_error)
