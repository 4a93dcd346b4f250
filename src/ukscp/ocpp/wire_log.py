"""What the OCPP and websocket libraries write to the log: DEBUG only, no secrets, cut short.

The ``ocpp`` library logs every frame it receives and sends at INFO, and the
``websockets`` library, at DEBUG, every HTTP header of the opening handshake
(the Basic auth header carries the AuthorizationKey) and the head and tail of
every frame. Each library is given one of the adapters here instead of its own
logger:

* :class:`FrameLog` (the ``ocpp`` logger): frames are logged at DEBUG, never
  INFO, after :func:`redacted` has replaced the secrets and the personal data
  in them, and cut to :data:`FRAME_LOG_CHARS`; a CALLERROR the charger answers
  on purpose is not logged as an error with a traceback (the refusal itself is
  logged once, by the code that refused);
* :class:`WebsocketLog` (the ``websockets`` loggers): the Authorization header's
  value and every frame's content are left out.

Nothing here runs unless its record is going to be written: the normal path of
a charger logging at INFO pays one level check per frame.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from websockets.frames import Frame

FRAME_LOG_CHARS = 2048
REDACTED = "<redacted>"

# Fields whose value is a secret or personal data wherever they appear (compared
# lower-case): the owner's card ids (idTag, idToken) identify a person.
_SECRET_FIELDS = frozenset(
    {"idtag", "parentidtag", "idtoken", "groupidtoken", "authorizationkey", "basicauthpassword"}
)
_SECRET_WORDS = ("password", "privatekey", "secret")
# 1.6 configuration keys and 2.0.1 variables whose value is a secret.
_SECRET_SETTINGS = frozenset({"authorizationkey", "basicauthpassword"})
_SETTING_VALUES = frozenset({"value", "attributevalue", "variableattribute"})


def _secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_FIELDS or any(word in lowered for word in _SECRET_WORDS)


def _names_secret_setting(item: Mapping[str, Any]) -> bool:
    """A 1.6 ``{"key": ..., "value": ...}`` or a 2.0.1 ``{"variable": {"name": ...}}``."""
    name = item.get("key")
    variable = item.get("variable")
    if isinstance(variable, Mapping):
        name = variable.get("name")
    return isinstance(name, str) and name.lower() in _SECRET_SETTINGS


def _scrub(value: Any) -> Any:
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if not isinstance(value, dict):
        return value
    secret_setting = _names_secret_setting(value)
    return {
        key: REDACTED
        if _secret_field(key) or (secret_setting and key.lower() in _SETTING_VALUES)
        else _scrub(item)
        for key, item in value.items()
    }


def cut(text: str, limit: int = FRAME_LOG_CHARS) -> str:
    """``text``, or its first ``limit`` characters and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def redacted(frame: str) -> str:
    """An OCPP-J frame (JSON text) as it may be logged: secrets replaced, then cut.

    Text that is not JSON is never logged, only its length: it could hold anything.
    """
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return f"<a frame that is not JSON, {len(frame):,} characters>"
    return cut(json.dumps(_scrub(message), separators=(",", ":"), default=str))


def _printable(arg: Any) -> Any:
    """A log argument of the ``ocpp`` library: a frame, a message object, or a name."""
    if isinstance(arg, str):
        return redacted(arg) if arg.lstrip().startswith("[") else cut(arg)
    to_json = getattr(arg, "to_json", None)
    if callable(to_json):
        return redacted(str(to_json()))
    return cut(str(arg))


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if len(exc_info) > 1 else None
    return sys.exc_info()[1] if exc_info else None


class FrameLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to the ``ocpp`` library; see the module docstring.

    ``answered_error`` is the library's CALLERROR exception base: the library
    logs each one it answers with a traceback, as if it were a fault.
    """

    def __init__(self, logger: logging.Logger, answered_error: type[BaseException]) -> None:
        super().__init__(logger, {})
        self._answered_error = answered_error

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at DEBUG what the library logs at INFO or below, redacted and cut."""
        if isinstance(_exception(kwargs.get("exc_info")), self._answered_error):
            kwargs.pop("exc_info")
            level = logging.DEBUG
        if level <= logging.INFO:
            level = logging.DEBUG
        if self.logger.isEnabledFor(level):
            self.logger.log(level, msg, *map(_printable, args), **kwargs)


class WebsocketLog(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to ``websockets``: no Authorization header, no frame content."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log as ``websockets`` does, with the header value and frame contents left out."""
        if not self.logger.isEnabledFor(level):
            return
        if len(args) == 2 and str(args[0]).lower() in ("authorization", "proxy-authorization"):
            args = (args[0], REDACTED)
        args = tuple(
            f"{arg.opcode.name} [{len(arg.data)} bytes]" if isinstance(arg, Frame) else arg
            for arg in args
        )
        self.logger.log(level, msg, *args, **kwargs)
