"""Each connection's message router: route tables, and what stands before the ``ocpp`` package.

:class:`GuardedRouter` is mixed in before the package's ``ChargePoint`` by each
version's edge (:mod:`ukscp.ocpp.v16._lib`, :mod:`ukscp.ocpp.v201._lib`), which
is built with the version's joined route tables (:mod:`ukscp.ocpp.routes`):

* every frame is checked by :func:`~ukscp.ocpp.frames.check_frame` (size,
  depth, numbers, shape) before the package parses it; a refused CALL is
  answered with the CALLERROR its version names (:class:`FrameErrors`), a
  refused CALLRESULT or CALLERROR is dropped, and the session goes on. The
  first refusal of each kind on a connection is logged as a warning, the rest
  are counted;
* an action this charger has no handler for is answered as OCPP-J defines the
  codes (1.6J section 4.2.3, 2.0.1 part 4 section 4.3): ``NotSupported`` when
  the version knows the action ("recognized but not supported"),
  ``NotImplemented`` when it does not ("not known by receiver"). The package
  maps the two the other way round;
* a request is checked against the version's schema (answered with the
  version's CALLERROR codes if refused) and handed to its route as a
  :class:`~ukscp.ocpp.routes.Call`; the package serialises and checks the
  answer, and the route's ``after`` runs once it is sent;
* the package logs through :class:`~ukscp.ocpp.wire_log.FrameLog`: DEBUG only,
  secrets redacted, frames cut.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from ukscp.ocpp._lib import (
    OcppError,
    answer_payload,
    checked_payload,
    error,
    snake_case,
    validate_answer,
)
from ukscp.ocpp.frames import Fault, Refusal, check_frame
from ukscp.ocpp.routes import Call, Route
from ukscp.ocpp.wire_log import FrameLog

_log = logging.getLogger(__name__)
_package_log = logging.getLogger("ocpp")  # the package's own logger name


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

    A version's edge sets :attr:`frame_errors`, :attr:`known_actions` and
    :attr:`payload_error`.
    """

    frame_errors: ClassVar[FrameErrors]
    known_actions: ClassVar[frozenset[str]]
    """Every action the version defines, in either direction."""

    # Set by the package's ChargePoint.
    id: str
    logger: logging.LoggerAdapter[logging.Logger]
    _connection: Any
    _ocpp_version: str

    def __init__(
        self, id: str, connection: Any, routes: Mapping[str, Route], response_timeout: float
    ) -> None:
        package: Any = super()
        logger = FrameLog(_package_log, OcppError)
        package.__init__(id, connection, response_timeout=response_timeout, logger=logger)
        self._routes = routes
        self._refused: Counter[Fault] = Counter()

    @staticmethod
    def payload_error(action: str, payload: Any) -> Exception | None:
        """The version's CALLERROR for a request payload its schema refuses, or None."""
        raise NotImplementedError

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

    async def _handle_call(self, msg: Any) -> None:
        # Replaces the package's dispatch: a route is handed the checked payload as on
        # the wire as well as in the package's snake_case, and the payload is checked
        # once, with the version's error codes. A CALLERROR raised here is sent by the
        # package's receive loop.
        route = self._routes.get(str(msg.action))
        if route is None:
            raise self._unhandled(str(msg.action))
        wire = checked_payload(msg.action, msg.payload, self.payload_error)
        call = Call(str(msg.action), wire, snake_case(wire))
        try:
            answer = route.answer(call)
        except Exception as exc:
            self.logger.exception("Error while handling request '%s'", msg)
            await cast(Any, self)._send(msg.create_call_error(exc).to_json())
            return
        response = msg.create_call_result(answer_payload(answer))
        await validate_answer(response, self._ocpp_version)
        await cast(Any, self)._send(response.to_json())
        if route.after is not None:
            try:
                route.after(call)
            except Exception:
                _log.exception("the work after %s failed to start", call.action)

    def _unhandled(self, action: str) -> Exception:
        """The CALLERROR for an action with no handler here (OCPP-J's definitions)."""
        if action in self.known_actions:
            _log.info("the CSMS asked for %s: not supported by this charger", action)
            return error("NotSupportedError", NOT_SUPPORTED)
        _log.info("the CSMS asked for %r: not an OCPP %s action", action, self._ocpp_version)
        return error("NotImplementedError", NOT_IMPLEMENTED)
