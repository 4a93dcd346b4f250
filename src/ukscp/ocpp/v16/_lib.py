"""The typed edge over the untyped ``ocpp`` package (OCPP 1.6 part).

Everything ukscp takes from ``ocpp`` passes through here, with the few
``type: ignore`` comments it needs kept in this one file. Messages are built by
action name (``request("Heartbeat")``), so no other module imports ``ocpp``.

It also gives the CALLERROR codes OCPP 1.6J asks for: the ``ocpp`` package
answers a malformed payload with 2.0.1's ``FormatViolation`` and an out-of-range
value the same way; :func:`payload_error` classifies a payload as 1.6 does
(``FormationViolation``, ``PropertyConstraintViolation``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from ocpp import exceptions as _exceptions  # type: ignore[import-untyped]
from ocpp.messages import get_validator as _get_validator  # type: ignore[import-untyped]
from ocpp.routing import after as _after  # type: ignore[import-untyped]
from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint as _ChargePoint  # type: ignore[import-untyped]
from ocpp.v16 import call as _call
from ocpp.v16 import call_result as _call_result

F = TypeVar("F", bound=Callable[..., Any])

ChargePointBase: Any = _ChargePoint
"""``ocpp.v16.ChargePoint``: the library's message router for one connection."""

OcppError: type[Exception] = _exceptions.OCPPError
"""Base of the library's CALLERROR exceptions (``.code``, ``.description``)."""

OCPP_VERSION = "1.6"
_CALL = 2
# The library validates these with decimal floats (their schemas use multipleOf 0.1);
# its validator cache ignores the float parser, so we must ask the same way.
_DECIMAL_ACTIONS = frozenset({"SetChargingProfile", "RemoteStartTransaction"})

# JSON-schema keyword -> OCPP 1.6J error code (OCPP-J 1.6 section 4.2.3).
_ERROR_BY_KEYWORD: dict[str, Any] = {
    "additionalProperties": _exceptions.FormationViolationError,
    "required": _exceptions.ProtocolError,
    "type": _exceptions.TypeConstraintViolationError,
    "maxLength": _exceptions.TypeConstraintViolationError,
    "minLength": _exceptions.TypeConstraintViolationError,
    "format": _exceptions.TypeConstraintViolationError,
    "enum": _exceptions.PropertyConstraintViolationError,
    "minimum": _exceptions.PropertyConstraintViolationError,
    "maximum": _exceptions.PropertyConstraintViolationError,
    "exclusiveMinimum": _exceptions.PropertyConstraintViolationError,
    "exclusiveMaximum": _exceptions.PropertyConstraintViolationError,
    "multipleOf": _exceptions.PropertyConstraintViolationError,
    "pattern": _exceptions.PropertyConstraintViolationError,
    "minItems": _exceptions.OccurenceConstraintViolationError,
    "maxItems": _exceptions.OccurenceConstraintViolationError,
}


def on(action: str) -> Callable[[F], F]:
    """``@on(action)``: the method answers the CSMS's ``action`` requests."""
    return cast(Callable[[F], F], _on(action))


def after(action: str) -> Callable[[F], F]:
    """``@after(action)``: the method runs once the answer to ``action`` was sent."""
    return cast(Callable[[F], F], _after(action))


def request(action: str, **fields: Any) -> Any:
    """The ``ocpp.v16.call`` message for ``action`` (snake_case fields)."""
    return getattr(_call, action)(**fields)


def result(action: str, **fields: Any) -> Any:
    """The ``ocpp.v16.call_result`` answer to ``action`` (snake_case fields)."""
    return getattr(_call_result, action)(**fields)


def error(code_class: str, description: str) -> Exception:
    """A library CALLERROR exception by class name, e.g. ``"PropertyConstraintViolationError"``."""
    kind: Any = getattr(_exceptions, code_class)
    return cast(Exception, kind(description=description, details={}))


def error_code(exc: BaseException) -> str | None:
    """The OCPP error code of a CALLERROR exception, or None for anything else."""
    if isinstance(exc, OcppError):
        return str(getattr(exc, "code", "GenericError"))
    return None


def payload_error(action: str, payload: Any) -> Exception | None:
    """The OCPP 1.6J CALLERROR for a request payload the schema refuses, or None if valid.

    Actions without a schema (unknown to 1.6) are left to the library, which
    answers NotImplemented or NotSupported.
    """
    parse_float: Callable[[str], Any] = Decimal if action in _DECIMAL_ACTIONS else float
    try:
        validator = _get_validator(_CALL, action, OCPP_VERSION, parse_float=parse_float)
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict):
        return cast(
            Exception,
            _exceptions.FormationViolationError(
                description="the payload must be a JSON object", details={}
            ),
        )
    if action in _DECIMAL_ACTIONS:
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
    found = best_match(validator.iter_errors(payload))
    if found is None:
        return None
    kind = _ERROR_BY_KEYWORD.get(str(found.validator), _exceptions.FormationViolationError)
    where = "/".join(str(part) for part in found.absolute_path) or "payload"
    # The details carry the cause only: never the message back (it may be large).
    return cast(Exception, kind(description=f"{action}: {where}: {found.message}", details={}))
