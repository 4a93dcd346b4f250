"""TriggerMessage, for either OCPP version: what the CSMS may ask for, sent after the answer.

OCPP 1.6 TriggerMessage (section 5.17), the 1.6 security whitepaper's
ExtendedTriggerMessage and OCPP 2.0.1 F06 work alike: the CSMS names a message
(and optionally a connector or EVSE), the charger answers Accepted, Rejected or
NotImplemented, and only *after* that answer sends the message, with current
information (1.6: "not intended to retrieve historic data").

Version-neutral here: the decision (a message we do not send is
NotImplemented; a connector or EVSE we do not have, or a refusal the message
itself gives, is Rejected), holding an accepted trigger until the answer is
out, and the best-effort live send. Each block gives the messages it can
send (a :class:`Triggerable` each); each client joins them into its tables,
and :mod:`.routes` answers TriggerMessage (and 1.6's ExtendedTriggerMessage)
from them.

Triggered messages go through the live connection, not the persistent queue:
they carry the charger's state *now*, and one queued behind an offline backlog
would arrive stale (if the send fails the CSMS simply asks again). The one
exception is 2.0.1's TransactionEvent, which the client writes to the queue:
its seqNo must reach the CSMS in order behind the transaction's earlier events
(E01-E07), and the queue delivers it at once when there is no backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from ukscp.ocpp.link import CsmsLink, CsmsRefused, Offline

_log = logging.getLogger(__name__)

ACCEPTED = "Accepted"
REJECTED = "Rejected"
NOT_IMPLEMENTED = "NotImplemented"

READING_CONTEXT = "Trigger"
"""ReadingContext of a triggered meter sample (the same word in 1.6 and 2.0.1)."""


@dataclass(frozen=True, slots=True)
class TriggerTarget:
    """The connector or EVSE a trigger names (1.6 connectorId is ``evse_id`` here)."""

    evse_id: int | None = None
    connector_id: int | None = None


def _never(_: TriggerTarget) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Triggerable:
    """One message the CSMS may trigger.

    ``send`` sends it (after the answer); ``refusal`` returns the answer when it
    cannot be sent now (e.g. Rejected for a TransactionEvent with no
    transaction), or None.
    """

    send: Callable[[TriggerTarget], Coroutine[Any, Any, None]]
    refusal: Callable[[TriggerTarget], str | None] = _never


Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Triggers:
    """Answers triggers from a table, and sends each accepted one once the answer is out."""

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn
        self._pending: dict[str, tuple[Triggerable, TriggerTarget]] = {}

    def answer(
        self,
        table: Mapping[str, Triggerable],
        message: str,
        target: TriggerTarget,
        *,
        target_exists: bool,
    ) -> str:
        """Accepted, Rejected or NotImplemented; an accepted trigger waits for :meth:`after`."""
        entry = table.get(message)
        if entry is None:
            return NOT_IMPLEMENTED
        if not target_exists:
            return REJECTED
        refusal = entry.refusal(target)
        if refusal is not None:
            return refusal
        self._pending[message] = (entry, target)
        return ACCEPTED

    def after(self, message: str) -> None:
        """The answer to the trigger of ``message`` was sent: send the message now."""
        pending = self._pending.pop(message, None)
        if pending is None:
            return  # not accepted
        entry, target = pending
        self._spawn(entry.send(target))


async def send_live(link: CsmsLink, message: Any) -> Any | None:
    """Send ``message`` over the connection now, best effort: the answer, or None.

    Unlike :meth:`CsmsLink.send_now` this does not wait for registration: a
    CSMS that keeps the charger Pending may still trigger messages (2.0.1
    B02; 1.6 section 4.2 allows a BootNotification "requested with a
    TriggerMessage").
    """
    try:
        return await link.call(message)
    except (CsmsRefused, Offline, TimeoutError, ConnectionClosed) as exc:
        _log.info("triggered %s not delivered: %s", type(message).__name__, exc)
        return None
