"""The asyncio shell around the randomised delay core.

:class:`RandomDelayGate` sits between the arbiter and the EVSE controller. It
turns each :class:`~ukscp.limits.arbiter.LimitChange` into an input for the
pure core (:mod:`ukscp.regulation.random_delay`), runs the delay's timer as a
task on the :class:`~ukscp.clock.Clock`, draws delays with :mod:`secrets`, hands
the EVSE controller the value it must offer, and publishes what happened on the
event bus. All decisions are the core's; this module only waits, reads and
writes.

Wiring, in the composition root::

    gate = RandomDelayGate(clock=clock, bus=bus, apply=controller.apply_limit,
                           ev_connected=lambda: controller.ev_connected,
                           initial=arbiter.current, settings=settings)
    arbiter.subscribe(gate.on_limit_change)

The gate reports changes of the value only: the composition root gives the
controller ``arbiter.current`` at start, or calls :meth:`RandomDelayGate.power_restored`
first when the charger comes back from a power cut with a session active.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ukscp.clock import Clock
from ukscp.events import Event, EventBus
from ukscp.limits.arbiter import ArbitratedLimit, LimitChange
from ukscp.regulation.random_delay import (
    Cancel,
    Cause,
    DelaySettings,
    DelayState,
    DelayStatus,
    Disable,
    Draw,
    Enable,
    EndReason,
    EvPlugged,
    EvUnplugged,
    Input,
    LimitRequest,
    Offer,
    Output,
    PowerRestored,
    SetMaxDuration,
    TimerExpired,
    initial_state,
    status,
    step,
    validate_max_duration,
)

__all__ = [
    "ApplyLimit",
    "RandomDelayCancelled",
    "RandomDelayEnabledChanged",
    "RandomDelayEnded",
    "RandomDelayEndedEarly",
    "RandomDelayExpired",
    "RandomDelayGate",
    "RandomDelayMaxDurationChanged",
    "RandomDelayNotApplied",
    "RandomDelayStarted",
    "draw_delay_s",
]

_log = logging.getLogger(__name__)

ApplyLimit = Callable[[float, int, str], None]
"""The EVSE controller's ``apply_limit(amps, phases, source)``."""


def draw_delay_s(max_s: int) -> int:
    """Draw a delay uniformly from the whole seconds ``0..max_s`` inclusive.

    Uses the operating system's CSPRNG, fresh for every draw and never seeded
    from the clock, so chargers that boot together after a power cut do not
    draw alike.
    """
    if max_s < 0:
        raise ValueError(f"the maximum delay must be >= 0 s, got {max_s}")
    return secrets.randbelow(max_s + 1)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayStarted(Event):
    """A randomised delay started; ``source`` is its cause (``ocpp``, ``restoration``...)."""

    delay_id: int
    duration_s: int
    cause: str
    direction: str
    reason: str
    policy: str
    held_amps: float
    held_phases: int
    requested_amps: float
    requested_phases: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayEnded(Event):
    """A randomised delay ended; ``source`` names who or what ended it."""

    delay_id: int
    end_reason: str
    cause: str
    duration_s: int
    elapsed_s: float
    applied_amps: float
    applied_phases: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayExpired(RandomDelayEnded):
    """The drawn time passed; the latest requested value now applies."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayCancelled(RandomDelayEnded):
    """The running delay was cancelled (an override); the latest value applies."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayEndedEarly(RandomDelayEnded):
    """The delay ended before its time (returned to held, disabled, superseded, ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayNotApplied(Event):
    """A relevant time passed without a delay, and why (policy row, disabled, drew 0 s...)."""

    cause: str
    direction: str
    reason: str
    why: str
    drawn_s: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayEnabledChanged(Event):
    """The delay was switched on or off; ``source`` names who did it."""

    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomDelayMaxDurationChanged(Event):
    """The maximum delay changed; ``source`` names who changed it (owner, ocpp, ...)."""

    old_s: int
    new_s: int


_ENDED_EVENT: dict[EndReason, type[RandomDelayEnded]] = {
    EndReason.EXPIRED: RandomDelayExpired,
    EndReason.CANCELLED: RandomDelayCancelled,
}


def _offer(limit: ArbitratedLimit) -> Offer:
    return Offer(limit.amps, limit.phases, limit.source.value)


# --------------------------------------------------------------------------- the gate


class RandomDelayGate:
    """Holds or passes each change of the arbitrated limit on its way to the EVSE."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        apply: ApplyLimit,
        ev_connected: Callable[[], bool],
        initial: ArbitratedLimit,
        settings: DelaySettings | None = None,
        draw: Draw = draw_delay_s,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._apply = apply
        self._ev_connected = ev_connected
        self._draw = draw
        self._state: DelayState = initial_state(
            _offer(initial), settings=settings, ev_connected=ev_connected()
        )
        self._timer: asyncio.Task[None] | None = None
        self._timer_for: tuple[int, float] | None = None
        self._closed = False

    # ----------------------------------------------------------------- inputs

    def on_limit_change(self, change: LimitChange) -> None:
        """Arbiter listener: a change of the arbitrated limit and its cause."""
        cause = Cause.of_limit(change.cause, cleared=change.cleared)
        request = LimitRequest(
            old=_offer(change.old),
            new=_offer(change.new),
            cause=cause,
            ev_connected=self._ev_connected(),
        )
        self._dispatch(request, source=cause.name)

    def enable(self, *, source: str = "local") -> None:
        """Switch the delay on."""
        self._dispatch(Enable(), source=source)

    def disable(self, *, source: str = "local") -> None:
        """Switch the delay off; a running delay ends and the latest value applies."""
        self._dispatch(Disable(), source=source)

    def cancel(self, *, source: str = "local") -> None:
        """End the running delay now (the latest value applies); the next one is unaffected."""
        self._dispatch(Cancel(), source=source)

    def set_max_duration(self, seconds: int, *, source: str = "local") -> None:
        """Set the maximum delay: whole seconds 0..1800, 0 meaning no delay.

        Raises ValueError outside that range or for a non-integer. A running
        delay is shortened if it would now outlast the new maximum.
        """
        self._dispatch(SetMaxDuration(validate_max_duration(seconds)), source=source)

    def power_restored(self, reason: str = "power restored with an EV connected") -> None:
        """The charger is back after a power cut with a session active and the EV connected.

        Call once at start, before the EVSE offers any current. The EVSE is
        given 0 A (or the latest value at once when no delay applies).
        """
        self._dispatch(PowerRestored(reason=reason), source="restoration", force_apply=True)

    def ev_plugged(self) -> None:
        """An EV was plugged in (a start chosen by the user: not delayed by ``by_source``)."""
        self._dispatch(EvPlugged(), source="ev")

    def ev_unplugged(self) -> None:
        """The EV was unplugged: a running delay ends, there is no flow to delay."""
        self._dispatch(EvUnplugged(), source="ev")

    # ----------------------------------------------------------------- outputs

    @property
    def settings(self) -> DelaySettings:
        """The settings in force (persist them on the change events)."""
        return self._state.settings

    @property
    def offered(self) -> Offer:
        """The value the EVSE has been given."""
        return self._state.offered

    def status(self) -> DelayStatus:
        """Enabled, maximum, running, remaining seconds, held and latest values, cause."""
        return status(self._state, self._clock.monotonic())

    def close(self) -> None:
        """Stop the timer; later changes are ignored (the charger is shutting down)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_for = None

    # ----------------------------------------------------------------- internals

    def _dispatch(self, event: Input, *, source: str, force_apply: bool = False) -> Output | None:
        if self._closed:
            return None
        before = self._state
        self._state, out = step(
            before, event, self._clock.monotonic(), self._draw, wall_now=self._clock.now()
        )
        self._sync_timer()
        if force_apply or out.offer != before.offered:
            self._apply(out.offer.amps, out.offer.phases, out.offer.source or "random_delay")
        self._publish(before, out, source)
        return out

    def _sync_timer(self) -> None:
        """Keep exactly one timer task, for the running delay's current deadline."""
        delay = self._state.delay
        wanted = None if delay is None else (delay.delay_id, delay.deadline)
        if wanted == self._timer_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_for = wanted
        if delay is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "RandomDelayGate needs a running event loop to time a delay"
                ) from None
            self._timer = loop.create_task(
                self._expire_at(delay.delay_id, delay.deadline),
                name=f"random-delay-{delay.delay_id}",
            )

    async def _expire_at(self, delay_id: int, deadline: float) -> None:
        # Loop rather than trust one sleep: a real clock may wake a hair early.
        while (remaining := deadline - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)
        # This task is finishing: forget it so the step below does not cancel it.
        self._timer = None
        self._timer_for = None
        try:
            self._dispatch(TimerExpired(delay_id), source="random_delay")
        except Exception:
            _log.exception("random delay %d: expiry failed", delay_id)

    def _publish(self, before: DelayState, out: Output, source: str) -> None:
        at = self._clock.now()
        old, new = before.settings, self._state.settings
        if old.enabled != new.enabled:
            self._bus.publish(RandomDelayEnabledChanged(at=at, source=source, enabled=new.enabled))
        if old.max_duration_s != new.max_duration_s:
            self._bus.publish(
                RandomDelayMaxDurationChanged(
                    at=at, source=source, old_s=old.max_duration_s, new_s=new.max_duration_s
                )
            )
        if out.ended is not None:
            ended = out.ended
            kind = _ENDED_EVENT.get(ended.reason, RandomDelayEndedEarly)
            self._bus.publish(
                kind(
                    at=at,
                    source=source,
                    delay_id=ended.delay.delay_id,
                    end_reason=ended.reason.value,
                    cause=ended.delay.cause.name,
                    duration_s=ended.delay.duration_s,
                    elapsed_s=ended.elapsed_s,
                    applied_amps=ended.applied.amps,
                    applied_phases=ended.applied.phases,
                )
            )
        decision = out.decision
        if decision is not None and not decision.delayed:
            self._bus.publish(
                RandomDelayNotApplied(
                    at=at,
                    source=decision.cause.name,
                    cause=decision.cause.name,
                    direction=decision.direction.value,
                    reason=decision.cause.reason,
                    why=decision.why,
                    drawn_s=decision.drawn_s,
                )
            )
        if out.started is not None:
            delay = out.started
            self._bus.publish(
                RandomDelayStarted(
                    at=at,
                    source=delay.cause.name,
                    delay_id=delay.delay_id,
                    duration_s=delay.duration_s,
                    cause=delay.cause.name,
                    direction=delay.direction.value,
                    reason=delay.cause.reason,
                    policy=new.policy.value,
                    held_amps=delay.held.amps,
                    held_phases=delay.held.phases,
                    requested_amps=self._state.requested.amps,
                    requested_phases=self._state.requested.phases,
                )
            )
