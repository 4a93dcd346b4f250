"""The reset block: a CSMS's Reset, in either version (1.6 section 5.14; 2.0.1 B11, B12).

A reset is security-logged, ends the open transaction (its stop reason says
the reset), delivers what the queue holds for a while, then restarts the
charger. The restart itself (deliver, then restart; the next boot's reason)
is the client's; this block decides when. 1.6 answers every Reset Accepted
(the charger can always restart). 2.0.1 restarts the whole station (one EVSE:
resetting it alone is resetting the station, so an EVSE-only reset is
Rejected); OnIdle during a transaction is Scheduled for the transaction's end.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from ukscp.ocpp.routes import Call, Result, Route
from ukscp.security.seclog import SecurityEventType, SecurityLog

HARD_16 = "Hard"
IMMEDIATE_201 = "Immediate"
ON_IDLE_201 = "OnIdle"


class Resets:
    """Carries out the CSMS's resets; one may wait for the transaction to end."""

    def __init__(
        self,
        *,
        seclog: SecurityLog,
        end_transaction: Callable[[str], None],
        restart: Callable[[bool], Coroutine[Any, Any, None]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        hard_kind: str,
    ) -> None:
        self._seclog = seclog
        self._end_transaction = end_transaction
        self._restart = restart
        self._spawn = spawn
        self._hard_kind = hard_kind
        self._when_idle = False

    @property
    def scheduled(self) -> bool:
        """A reset waits for the open transaction to end."""
        return self._when_idle

    def schedule_when_idle(self) -> None:
        """Reset once the open transaction has ended (2.0.1 OnIdle, answered Scheduled)."""
        self._when_idle = True

    def start(self, kind: str) -> None:
        """Carry out an accepted reset of ``kind`` (its answer has been sent)."""
        self._spawn(self._reset(kind))

    def transaction_ended(self) -> None:
        """The transaction ended: a scheduled reset happens now."""
        if self._when_idle:
            self._when_idle = False
            self.start(ON_IDLE_201)

    async def _reset(self, kind: str) -> None:
        self._seclog.record(
            SecurityEventType.RESET_OR_REBOOT, f"{kind} reset requested by the CSMS"
        )
        self._end_transaction(kind)
        await self._restart(kind == self._hard_kind)


def routes16(resets: Resets, result: Result) -> list[Route]:
    """Reset (Hard or Soft): always Accepted, carried out once answered."""
    return [
        Route(
            "Reset",
            lambda _: result("Reset", status="Accepted"),
            lambda call: resets.start(call.args["type"]),
        )
    ]


def routes201(resets: Resets, transaction_open: Callable[[], bool], result: Result) -> list[Route]:
    """Reset (Immediate or OnIdle) of the station: Accepted, Scheduled or Rejected."""

    def answer(call: Call) -> Any:
        if call.args.get("evse_id") is not None:
            return result("Reset", status="Rejected")
        if call.args["type"] == ON_IDLE_201 and transaction_open():
            resets.schedule_when_idle()
            return result("Reset", status="Scheduled")
        return result("Reset", status="Accepted")

    def carry_out(call: Call) -> None:
        kind = call.args["type"]
        if call.args.get("evse_id") is not None or (kind == ON_IDLE_201 and resets.scheduled):
            return  # Rejected, or Scheduled: the transaction's end starts it
        resets.start(kind)

    return [Route("Reset", answer, carry_out)]
