"""Each OCPP-J frame from the CSMS, checked before any library parses it: a pure core.

A frame is refused, with a reason in words (never its content), when

* it is longer than :data:`MAX_FRAME_CHARS` (64 KiB: four times the largest
  request this charger accepts, e.g. a SetChargingProfile at the period cap or a
  10,000-character certificate chain; the websocket itself stops at 1 MiB);
* it nests arrays and objects deeper than :data:`MAX_DEPTH` (32; the deepest
  OCPP 1.6 or 2.0.1 request nests about 12). Depth is measured by a linear,
  non-recursive scan of the raw text, before the recursive JSON parser runs;
* it holds a number no OCPP field can hold: magnitude above
  :data:`MAX_NUMBER` (10^15; the largest OCPP integers are 32-bit, the largest
  decimals a few thousand), an integer longer than 16 digits, or NaN/Infinity;
* it is not JSON, or not an OCPP-J message: ``[2, id, action, {payload}]``,
  ``[3, id, {payload}]`` or ``[4, id, code, description, {details}]`` with a
  message id of 1 to 36 characters (OCPP-J 1.6 section 4.1.3, 2.0.1 part 4
  section 4.1.4).

What a refusal is answered with depends on the OCPP version (see
:class:`Fault`); a CALLRESULT or CALLERROR is never answered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from itertools import accumulate
from typing import Any

MAX_FRAME_CHARS = 65_536
MAX_DEPTH = 32
MAX_NUMBER = 1e15
MAX_INTEGER_DIGITS = 16
MAX_MESSAGE_ID_CHARS = 36
MAX_ACTION_CHARS = 64  # the longest OCPP action name has 35

CALL, CALLRESULT, CALLERROR = 2, 3, 4
_SHAPES = {CALL: (4, 4), CALLRESULT: (3, 3), CALLERROR: (4, 5)}  # (fewest, most) elements

# A JSON string, escapes included; possessive, so an unterminated one ends the scan
# in linear time instead of being retried from every later quote.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# The message type and id at the start of a frame that cannot be parsed as a whole.
_HEAD = re.compile(rf'\s*\[\s*(\d{{1,3}})\s*,\s*"([^"\\]{{1,{MAX_MESSAGE_ID_CHARS}}})"')


class Fault(Enum):
    """Why a frame was refused; each version names the CALLERROR code of each."""

    UNREADABLE = "unreadable"
    """Not JSON, not an array, or its message id cannot be read: OCPP 2.0.1 answers
    ``RpcFrameworkError`` with message id ``"-1"``; OCPP 1.6J has no answer."""

    UNKNOWN_TYPE = "unknown message type"
    """A message type other than 2, 3 or 4: 2.0.1 ``MessageTypeNotSupported``."""

    FORMAT = "format"
    """Too large, too deep, a number out of range, or not an OCPP-J message's
    shape: 1.6J ``FormationViolation``, 2.0.1 ``FormatViolation``."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame the charger will not hand on; ``reason`` says why in words."""

    fault: Fault
    reason: str
    message_type: int | None = None  # as far as it could be read
    message_id: str | None = None

    @property
    def answerable(self) -> bool:
        """False for a CALLRESULT or CALLERROR (OCPP-J never answers those)."""
        return self.message_type not in (CALLRESULT, CALLERROR)


class _NumberOutOfRange(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NumberOutOfRange(f"an integer of {len(text)} digits")
    value = int(text)
    if abs(value) > MAX_NUMBER:
        raise _NumberOutOfRange(f"the number {text} is out of range")
    return value


def _decimal(text: str) -> float:
    value = float(text)
    if not abs(value) <= MAX_NUMBER:  # also refuses an overflow to infinity
        raise _NumberOutOfRange(f"a number of magnitude {value:.3g} is out of range")
    return value


def _constant(text: str) -> Any:
    raise _NumberOutOfRange(f"{text} is not a number OCPP allows")


def depth(text: str) -> int:
    """How deep ``text`` nests arrays and objects (brackets inside strings not counted).

    Linear in the length and not recursive: a frame nested 100,000 deep costs
    what any frame of its length does.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_frame(frame: str | bytes) -> Refusal | None:
    """None when ``frame`` may go on to the ``ocpp`` library, else why not."""
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal(Fault.UNREADABLE, "a binary frame that is not UTF-8 text")
    if len(frame) > MAX_FRAME_CHARS:
        return _refuse_unparsed(
            frame, f"a frame of {len(frame):,} characters (at most {MAX_FRAME_CHARS:,})"
        )
    # Fewer openers than the limit cannot nest deeper than it (strings only add to the count).
    if frame.count("[") + frame.count("{") > MAX_DEPTH:
        nesting = depth(frame)
        if nesting > MAX_DEPTH:
            return _refuse_unparsed(frame, f"nested {nesting} deep (at most {MAX_DEPTH})")
    try:
        message = json.loads(
            frame, parse_int=_integer, parse_float=_decimal, parse_constant=_constant
        )
    except _NumberOutOfRange as exc:
        return _refuse_unparsed(frame, str(exc))
    except ValueError:
        return _refuse_unparsed(frame, "not JSON")
    return check_message(message)


def check_message(message: Any) -> Refusal | None:
    """None when a parsed frame has the shape of an OCPP-J message, else why not."""
    if not isinstance(message, list) or not message:
        return Refusal(Fault.UNREADABLE, "not a JSON array")
    kind = message[0]
    if type(kind) is not int:
        return Refusal(Fault.UNREADABLE, "the message type is not a number")
    unique_id = message[1] if len(message) > 1 else None
    if not isinstance(unique_id, str) or not 0 < len(unique_id) <= MAX_MESSAGE_ID_CHARS:
        return Refusal(
            Fault.UNREADABLE,
            f"no message id of 1 to {MAX_MESSAGE_ID_CHARS} characters",
            message_type=kind,
        )
    shape = _SHAPES.get(kind)
    if shape is None:
        return Refusal(Fault.UNKNOWN_TYPE, f"message type {kind}", kind, unique_id)
    fewest, most = shape
    problem = None
    if not fewest <= len(message) <= most:
        problem = f"{len(message)} elements where message type {kind} has {most}"
    elif kind == CALL:
        action = message[2]
        if not isinstance(action, str) or not 0 < len(action) <= MAX_ACTION_CHARS:
            problem = f"no action name of 1 to {MAX_ACTION_CHARS} characters"
        elif not isinstance(message[3], dict):
            problem = "the payload is not a JSON object"
    elif kind == CALLRESULT:
        if not isinstance(message[2], dict):
            problem = "the payload is not a JSON object"
    elif not (
        isinstance(message[2], str)
        and isinstance(message[3], str)
        and (len(message) == 4 or isinstance(message[4], dict))
    ):
        problem = "the error code, description and details are not text, text and an object"
    if problem is None:
        return None
    return Refusal(Fault.FORMAT, problem, kind, unique_id)


def _refuse_unparsed(frame: str, reason: str) -> Refusal:
    """A refusal of a frame that is not parsed as a whole: its head may still name it."""
    head = _HEAD.match(frame, 0, 64 + MAX_MESSAGE_ID_CHARS)
    if head is None:
        return Refusal(Fault.UNREADABLE, reason)
    return Refusal(Fault.FORMAT, reason, int(head.group(1)), head.group(2))
