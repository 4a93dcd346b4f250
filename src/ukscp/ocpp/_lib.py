"""The typed edge over the untyped ``ocpp`` package: the parts every OCPP version shares.

Routing decorators, the CALLERROR exception base, checking a payload against
the package's JSON schemas with a per-version table of error codes, and
:class:`GuardedRouter`, the part of each connection's router that stands
between the websocket and the package:

* every frame is checked by :func:`~ukscp.ocpp.frames.check_frame` (size,
  depth, numbers, shape) before the package parses it; a refused CALL is
  answered with the CALLERROR its version names (:class:`FrameErrors`) and the
  session goes on;
* an action this charger has no handler for is answered as OCPP-J defines the
  codes (1.6J section 4.2.3, 2.0.1 part 4 section 4.3): ``NotSupported`` when
  the version knows the action ("recognized but not supported"),
  ``NotImplemented`` when it does not ("not known by receiver"). The package
  maps the two the other way round;
* the package logs through :class:`~ukscp.ocpp.wire_log.FrameLog`: DEBUG only,
  secrets redacted, frames cut.

The version-specific edges (:mod:`ukscp.ocpp.v16._lib`,
:mod:`ukscp.ocpp.v201._lib`) build on this; no other module imports ``ocpp``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, cast

from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from ocpp import exceptions as _exceptions  # type: ignore[import-untyped]
from ocpp.messages import get_validator as _get_validator  # type: ignore[import-untyped]
from ocpp.routing import after as _after  # type: ignore[import-untyped]
from ocpp.routing import on as _on

from ukscp.ocpp.frames import Fault, Refusal, check_frame
from ukscp.ocpp.wire_log import FrameLog, cut

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger(__name__)
_package_log = logging.getLogger("ocpp")  # the package's own logger name

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


# ----------------------------------------------------------------------------- the router


@dataclass(frozen=True, slots=True)
class FrameErrors:
    """The CALLERROR codes a version answers refused frames with (see :class:`Fault`)."""

    format: str
    """Too large, too deep, a number out of range, a wrong shape: 1.6J
    ``FormationViolation`` (as its section 4.2.3 spells it), 2.0.1 ``FormatViolation``."""

    unknown_type: str
    """A message type other than CALL, CALLRESULT, CALLERROR: 2.0.1
    ``MessageTypeNotSupported`` (part 4, section 4.4); 1.6J has no code of its own."""

    unreadable: str | None
    """No message id could be read: 2.0.1 ``RpcFrameworkError``, answered with
    message id ``"-1"``; None (1.6J, which says nothing of it): not answered."""

    def answer(self, refusal: Refusal) -> tuple[str, str] | None:
        """``(message id, error code)`` of the CALLERROR answering ``refusal``, or None."""
        if not refusal.answerable:
            return None
        if refusal.message_id is None:
            return None if self.unreadable is None else ("-1", self.unreadable)
        code = self.unknown_type if refusal.fault is Fault.UNKNOWN_TYPE else self.format
        return refusal.message_id, code


NOT_SUPPORTED = "Requested Action is recognized but not supported by the receiver"
NOT_IMPLEMENTED = "Requested Action is not known by receiver"


class GuardedRouter:
    """Mixed in before the package's ``ChargePoint``: frames checked, codes right, logs safe.

    A version's edge sets :attr:`frame_errors` and :attr:`known_actions`.
    """

    frame_errors: ClassVar[FrameErrors]
    known_actions: ClassVar[frozenset[str]]
    """Every action the version defines, in either direction."""

    # Set by the package's ChargePoint.
    id: str
    route_map: dict[str, Any]
    logger: logging.LoggerAdapter[logging.Logger]
    _connection: Any
    _ocpp_version: str

    def __init__(self, id: str, connection: Any, response_timeout: float = 30) -> None:
        package: Any = super()
        logger = FrameLog(_package_log, OcppError)
        package.__init__(id, connection, response_timeout=response_timeout, logger=logger)
        self._refused: Counter[Fault] = Counter()

    async def start(self) -> None:
        """Receive and answer until the connection closes (the package's loop, guarded)."""
        try:
            while True:
                await self.route_message(await self._connection.recv())
        finally:
            if sum(self._refused.values()) > 1:
                _log.info(
                    "%d frames from the CSMS were refused on this connection",
                    sum(self._refused.values()),
                )

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Hand a checked frame to the package; answer a refused one as the version says."""
        frame = raw_msg if isinstance(raw_msg, str) else raw_msg.decode("utf-8", "replace")
        refusal = check_frame(frame)
        if refusal is None:
            self.logger.debug("%s: receive %s", self.id, frame)
            package: Any = super()
            await package.route_message(frame)
            return
        answer = self.frame_errors.answer(refusal)
        # The first refusal of each kind on a connection is a warning, the rest are counted:
        # a CSMS sending nothing but bad frames must not fill the log.
        first = not self._refused[refusal.fault]
        self._refused[refusal.fault] += 1
        _log.log(
            logging.WARNING if first else logging.DEBUG,
            "refused a frame from the CSMS (%s): %s; %s",
            refusal.fault.value,
            refusal.reason,
            "not answered" if answer is None else f"answered {answer[1]}",
        )
        if answer is not None:
            unique_id, code = answer
            reply = [4, unique_id, code, f"the frame was refused: {refusal.reason}", {}]
            await cast(Any, self)._send(json.dumps(reply, separators=(",", ":")))

    async def _handle_call(self, msg: Any) -> Any:
        if msg.action not in self.route_map:
            raise self._unhandled(str(msg.action))
        package: Any = super()
        return await package._handle_call(msg)

    def _unhandled(self, action: str) -> Exception:
        """The CALLERROR for an action with no handler here (OCPP-J's definitions)."""
        if action in self.known_actions:
            _log.info("the CSMS asked for %s: not supported by this charger", action)
            return error("NotSupportedError", NOT_SUPPORTED)
        _log.info("the CSMS asked for %r: not an OCPP %s action", action, self._ocpp_version)
        return error("NotImplementedError", NOT_IMPLEMENTED)
