"""The current connection to the CSMS as the rest of a client uses it: one call at a time.

Version-neutral: the 1.6J and 2.0.1 clients each attach their own ``ocpp``
library charge point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from ukscp.ocpp._lib import OcppError, error_code
from ukscp.ocpp.wire_log import cut

_log = logging.getLogger(__name__)
_DESCRIPTION_CHARS = 300  # the CSMS's own words about a CALLERROR, as far as they are logged


class Caller(Protocol):
    """An ``ocpp`` library charge point, as far as sending calls goes."""

    async def call(self, payload: Any, suppress: bool = True) -> Any:
        """Send ``payload`` and return the answer (raising a CALLERROR if not ``suppress``)."""
        ...


class CsmsRefused(Exception):
    """The CSMS answered a call with a CALLERROR (or with an answer the schema refuses)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


class Offline(Exception):
    """There is no connection to the CSMS."""


class CsmsLink:
    """Holds the connection's charge point, if any, and sends calls over it.

    Calls go one at a time (OCPP-J allows one outstanding call), under a lock
    that :meth:`idle` also takes, so that a deliberate disconnection never
    cuts a call off before its answer.
    """

    def __init__(self) -> None:
        self._cp: Caller | None = None
        self._registered = False
        self._lock = asyncio.Lock()
        self._no_call = asyncio.Event()  # set while no call of ours is in flight
        self._no_call.set()

    @property
    def online(self) -> bool:
        """Connected and registered (BootNotification accepted)."""
        return self._cp is not None and self._registered

    def attach(self, cp: Caller) -> None:
        """A new connection is open (not yet registered)."""
        self._cp, self._registered = cp, False

    def registered(self) -> None:
        """The CSMS accepted the BootNotification."""
        self._registered = True

    def detach(self) -> None:
        """The connection is gone."""
        self._cp, self._registered = None, False

    async def call(self, message: Any) -> Any:
        """Send one call and return the answer.

        Raises :class:`CsmsRefused` for a CALLERROR, :class:`Offline` with no
        connection, ``TimeoutError`` when unanswered and ``ConnectionClosed``
        when the connection drops.
        """
        cp = self._cp
        if cp is None:
            raise Offline
        try:
            async with self._lock:
                self._no_call.clear()
                try:
                    return await cp.call(message, suppress=False)
                finally:
                    self._no_call.set()
        except ConnectionClosed:
            raise
        except TimeoutError:
            # The library's message quotes the whole call, personal data and all.
            raise TimeoutError(f"no answer to {type(message).__name__}") from None
        except OcppError as exc:
            code = error_code(exc) or "GenericError"
            raise CsmsRefused(code, cut(str(exc), _DESCRIPTION_CHARS)) from None
        except Exception as exc:  # e.g. an error code OCPP does not define
            if type(exc).__module__.startswith("ocpp"):
                raise CsmsRefused("GenericError", cut(str(exc), _DESCRIPTION_CHARS)) from None
            raise

    async def send_now(self, message: Any) -> Any | None:
        """A best-effort call outside the queue: None when offline, refused or unanswered."""
        if not self.online:
            return None
        try:
            return await self.call(message)
        except (CsmsRefused, Offline, TimeoutError, ConnectionClosed) as exc:
            _log.info("%s not delivered: %s", type(message).__name__, exc)
            return None

    async def call_ended(self, grace_s: float) -> None:
        """Wait until no call of ours is in flight, for at most ``grace_s`` real seconds.

        For a connection that has just closed: an answer that arrived before
        the close is still on its way to the call waiting for it (the ``ocpp``
        library validates it in a worker thread). Cancelling that call now
        would lose an answer the CSMS gave, and the message would be sent a
        second time. A call whose answer never came cannot end any more: the
        grace bounds the wait for it.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_call.wait(), grace_s)

    def idle(self) -> asyncio.Lock:
        """``async with link.idle():`` waits until no call of ours is in flight, and holds."""
        return self._lock
