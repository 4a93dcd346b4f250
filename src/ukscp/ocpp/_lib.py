"""The typed edge over the untyped ``ocpp`` package: the parts every OCPP version shares.

Routing decorators, the CALLERROR exception base, and checking a payload
against the package's JSON schemas with a per-version table of error codes.
The version-specific edges (:mod:`ukscp.ocpp.v16._lib`,
:mod:`ukscp.ocpp.v201._lib`) build on this and on :mod:`ukscp.ocpp.router`
(what stands between the websocket and the package); no other module imports
``ocpp``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar, cast

from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from ocpp import exceptions as _exceptions  # type: ignore[import-untyped]
from ocpp.charge_point import camel_to_snake_case as _camel_to_snake_case  # type: ignore[import-untyped]
from ocpp.charge_point import remove_nones as _remove_nones
from ocpp.charge_point import serialize_as_dict as _serialize_as_dict
from ocpp.charge_point import snake_to_camel_case as _snake_to_camel_case
from ocpp.messages import get_validator as _get_validator  # type: ignore[import-untyped]
from ocpp.messages import validate_payload as _validate_payload
from ocpp.routing import after as _after  # type: ignore[import-untyped]
from ocpp.routing import on as _on

from ukscp.ocpp.wire_log import cut

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger(__name__)

OcppError: type[Exception] = _exceptions.OCPPError
"""Base of the library's CALLERROR exceptions (``.code``, ``.description``)."""

_CALL = 2

CONSTRAINT_ERRORS: Mapping[str, str] = {
    "type": "TypeConstraintViolationError",
    "maxLength": "TypeConstraintViolationError",
    "minLength": "TypeConstraintViolationError",
    "format": "TypeConstraintViolationError",
    "enum": "PropertyConstraintViolationError",
    "minimum": "PropertyConstraintViolationError",
    "maximum": "PropertyConstraintViolationError",
    "exclusiveMinimum": "PropertyConstraintViolationError",
    "exclusiveMaximum": "PropertyConstraintViolationError",
    "multipleOf": "PropertyConstraintViolationError",
    "pattern": "PropertyConstraintViolationError",
}
"""JSON-schema keyword -> CALLERROR code where OCPP-J 1.6 and 2.0.1 agree.

Each version adds its own codes for the structural keywords (an unknown
field, a missing one, too few or too many items).
"""


def on(action: str) -> Callable[[F], F]:
    """``@on(action)``: the method answers the CSMS's ``action`` requests."""
    return cast(Callable[[F], F], _on(action))


def after(action: str) -> Callable[[F], F]:
    """``@after(action)``: the method runs once the answer to ``action`` was sent."""
    return cast(Callable[[F], F], _after(action))


def error(code_class: str, description: str) -> Exception:
    """A library CALLERROR exception by class name, e.g. ``"PropertyConstraintViolationError"``."""
    kind: Any = getattr(_exceptions, code_class)
    return cast(Exception, kind(description=description, details={}))


def error_code(exc: BaseException) -> str | None:
    """The OCPP error code of a CALLERROR exception, or None for anything else."""
    if isinstance(exc, OcppError):
        return str(getattr(exc, "code", "GenericError"))
    return None


def schema_error(
    version: str,
    action: str,
    payload: Any,
    *,
    errors_by_keyword: Mapping[str, str],
    not_an_object: str,
    fallback: str,
    decimal_floats: bool = False,
) -> Exception | None:
    """The CALLERROR for a request payload ``version``'s schema refuses, or None if valid.

    ``errors_by_keyword`` maps a JSON-schema keyword (``"enum"``, ``"required"``,
    ...) to the name of the library's exception class for it; ``fallback`` is
    used for any other keyword and ``not_an_object`` for a payload that is not
    a JSON object. Actions without a schema are left to the router (it
    answers NotImplemented). ``decimal_floats`` validates as
    the library does for the few 1.6 schemas with ``multipleOf: 0.1``.
    """
    parse_float: Callable[[str], Any] = Decimal if decimal_floats else float
    try:
        validator = _get_validator(_CALL, action, version, parse_float=parse_float)
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict):
        return error(not_an_object, "the payload must be a JSON object")
    if decimal_floats:
        payload = json.loads(json.dumps(payload), parse_float=Decimal)
    found = best_match(validator.iter_errors(payload))
    if found is None:
        return None
    kind = errors_by_keyword.get(str(found.validator), fallback)
    where = "/".join(str(part) for part in found.absolute_path) or "payload"
    # The description names the rule broken, never the value that broke it: the
    # value may be a secret (a too long AuthorizationKey) and is logged with it.
    return error(kind, cut(f"{action}: {where}: {_rule(found)}", _DESCRIPTION_CHARS))


_DESCRIPTION_CHARS = 300
_RULES: Mapping[str, str] = {
    "type": "must be of type {}",
    "enum": "must be one of {}",
    "maxLength": "must be at most {} characters long",
    "minLength": "must be at least {} characters long",
    "maximum": "must be at most {}",
    "minimum": "must be at least {}",
    "exclusiveMaximum": "must be below {}",
    "exclusiveMinimum": "must be above {}",
    "multipleOf": "must be a multiple of {}",
    "pattern": "must match {}",
    "format": "must be a {}",
    "maxItems": "must have at most {} items",
    "minItems": "must have at least {} items",
}


def _rule(found: Any) -> str:
    """The schema rule ``found`` (a jsonschema error) says was broken, without the value."""
    keyword = str(found.validator)
    if keyword in ("required", "additionalProperties"):
        return str(found.message)  # names fields, not values
    template = _RULES.get(keyword, keyword + " {}")
    return template.format(found.validator_value)


def checked_payload(
    action: str, payload: Any, payload_error: Callable[[str, Any], Exception | None]
) -> dict[str, Any]:
    """A request's payload as on the wire (a deep copy), once ``payload_error`` passes it.

    Raises the version's CALLERROR for a payload its schema refuses, so the
    library answers with that code before any handler runs. A bug in the
    checker is logged and lets the payload through: it must not kill the
    receive loop.
    """
    try:
        problem = payload_error(action, payload)
    except Exception:
        _log.exception("checking the payload of %s failed", action)
        problem = None
    if problem is not None:
        _log.warning("refused %s from the CSMS: %s", action, problem)
        raise problem
    return copy.deepcopy(payload) if isinstance(payload, dict) else {}


def snake_case(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with snake_case names at every depth, as the library's messages spell them."""
    return cast(dict[str, Any], _camel_to_snake_case(dict(payload)))


def answer_payload(answer: Any) -> dict[str, Any]:
    """A ``call_result`` message as its wire payload: camelCase names, unset fields left out."""
    return cast(dict[str, Any], _snake_to_camel_case(_remove_nones(_serialize_as_dict(answer))))


async def validate_answer(response: Any, version: str) -> None:
    """Check an answer against ``version``'s schema (the library's CALLERROR if it fails)."""
    await _validate_payload(response, version)
