"""The randomised delay of regulation 11: the pure decision core.

Every decision lives here as a function of ``(state, event, now, draw)`` that
returns ``(new state, output)``. There is no I/O, no clock and no global: the
caller passes monotonic time in and, when a delay may start, a ``draw``
function that returns a whole number of seconds. The asyncio shell
(:mod:`ukscp.regulation.delay_gate`) owns the timer, the CSPRNG and the EVSE.

Semantics (DESIGN section 3):

* A *relevant time* is a change of the arbitrated limit by more than 0.1 A
  while an EV is connected: a start (0 -> >0), stop (>0 -> 0), increase or
  decrease, counting phase-count and total-power changes. With
  ``at_any_change=False`` only starts and stops are relevant. The start of
  charging when power returns with an EV still connected is relevant too.
* At a relevant time, if the gate is enabled, no delay is running and the
  policy says the cause needs one, a delay ``d`` is drawn from the whole
  seconds ``0..max``. While it runs the EVSE keeps the value it had when the
  delay started; later changes only update the latest request and never
  restart or extend it; at its end the latest request applies at once with no
  second delay. A request that returns to the held value ends it early.
* The policy is the data table :data:`POLICY_TABLE`, keyed by cause and
  direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeAlias

from ukscp.limits.limit import DeclaredCause, Limit, LimitSource

__all__ = [
    "DEFAULT_MAX_DURATION_S",
    "DELAY",
    "MAX_DURATION_LIMIT_S",
    "NO_DELAY",
    "POLICY_TABLE",
    "THRESHOLD_A",
    "Cancel",
    "Cause",
    "CauseKey",
    "Decision",
    "Delay",
    "DelayEnded",
    "DelaySettings",
    "DelayState",
    "DelayStatus",
    "Direction",
    "Disable",
    "Draw",
    "Enable",
    "EndReason",
    "EvPlugged",
    "EvUnplugged",
    "Input",
    "LimitRequest",
    "Offer",
    "Output",
    "Policy",
    "PowerRestored",
    "Rule",
    "SetMaxDuration",
    "TimerExpired",
    "Trigger",
    "classify",
    "equivalent",
    "initial_state",
    "matching_rules",
    "policy_decision",
    "policy_table_markdown",
    "status",
    "step",
    "validate_max_duration",
]

MAX_DURATION_LIMIT_S: Final = 1800  # regulation 11: capable of delays up to 30 minutes
DEFAULT_MAX_DURATION_S: Final = 600  # regulation 11: up to 10 minutes by default
THRESHOLD_A: Final = 0.1  # changes this small are measurement noise, not a relevant time
# Float slack so that 16.0 -> 16.1 (0.10000000000000142 in binary) is not "more than 0.1 A".
_EPS: Final = 1e-9

Draw: TypeAlias = Callable[[int], int]
"""Given a maximum ``m`` in seconds, return a whole number drawn uniformly from ``0..m``."""


class Policy(StrEnum):
    """Which relevant times get a delay."""

    BY_SOURCE = "by_source"  # ours: decided per cause by POLICY_TABLE
    ALWAYS = "always"  # EVerest-like: every relevant time, except where no policy may delay


class Direction(StrEnum):
    """The kind of change of the offered current."""

    START = "start"  # 0 -> >0
    STOP = "stop"  # >0 -> 0
    INCREASE = "increase"
    DECREASE = "decrease"


class Trigger(StrEnum):
    """Causes of a relevant time that are not a limit's own source."""

    RANDOMISED = "randomised"  # matched in addition by any limit flagged randomised=True
    PLUG_IN = "plug_in"  # the user plugs an EV in
    EV_PAUSE = "ev_pause"  # the EV itself pauses or resumes
    RESTORATION = "restoration"  # charging restarts after a power cut, EV still connected
    LOCAL = "local"  # matched in addition by a limit declared local (an energy manager's)
    PRICE = "price"  # matched in addition by a limit declared price-driven


CauseKey: TypeAlias = LimitSource | Trigger


class EndReason(StrEnum):
    """Why a running delay ended."""

    EXPIRED = "expired"  # the drawn time passed
    CANCELLED = "cancelled"  # cancel(): the owner's (or CSMS's) override
    RETURNED_TO_HELD = "returned_to_held"  # the request came back to the held value
    DISABLED = "disabled"  # the delay was switched off
    SUPERSEDED = "superseded"  # an override, DSR, safety, or a fall below the held value
    EV_DISCONNECTED = "ev_disconnected"  # no EV, no flow to delay
    MAX_REDUCED = "max_reduced"  # the maximum was lowered below the time already waited


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Offer:
    """A value for the EVSE: current per phase and phase count.

    ``source`` says where the value came from (the binding limit's source) and
    is carried along for the EVSE controller; it takes no part in equality.
    """

    amps: float
    phases: int
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.amps) or self.amps < 0:
            raise ValueError(f"offer amps must be a finite number >= 0, got {self.amps!r}")
        if self.phases < 1:
            raise ValueError(f"offer phases must be >= 1, got {self.phases!r}")

    @property
    def total_a(self) -> float:
        """Current summed over the phases: proportional to the power offered."""
        return self.amps * self.phases

    @property
    def flowing(self) -> bool:
        """Whether this value lets current flow (more than the 0.1 A noise floor)."""
        return self.amps > THRESHOLD_A + _EPS


def _beyond(a: float, b: float) -> bool:
    return abs(a - b) > THRESHOLD_A + _EPS


def _fell(before: float, after: float) -> bool:
    return before - after > THRESHOLD_A + _EPS


def equivalent(a: Offer, b: Offer) -> bool:
    """Whether two offers are the same for the regulation (no relevant difference)."""
    if not a.flowing and not b.flowing:
        return True  # 0 A on one phase or on three is still no charging
    return not (_beyond(a.amps, b.amps) or _beyond(a.total_a, b.total_a) or a.phases != b.phases)


def classify(old: Offer, new: Offer) -> Direction | None:
    """The direction of a change, or ``None`` when it is not a relevant change.

    A mixed change (per-phase current down, total up, or the reverse) counts as
    a decrease: a protective cap acting on either must never be held.
    """
    if equivalent(old, new):
        return None
    if not old.flowing:
        return Direction.START
    if not new.flowing:
        return Direction.STOP
    if _fell(old.amps, new.amps) or _fell(old.total_a, new.total_a):
        return Direction.DECREASE
    return Direction.INCREASE


@dataclass(frozen=True, slots=True)
class Cause:
    """Why the request changed: a limit's source, or a trigger that is not a limit."""

    key: CauseKey
    reason: str = ""
    randomised: bool = False  # the source already applied an equivalent random delay
    cleared: bool = False  # the limit was removed rather than set
    delay_max_s: int | None = None  # the source's own longest delay (OCPP 2.1 randomizedDelay)
    declared: DeclaredCause | None = None  # what the source says moved it (local, price)

    @classmethod
    def of_limit(cls, limit: Limit, *, cleared: bool = False) -> Cause:
        """The cause of a change made by setting (or clearing) ``limit``."""
        return cls(
            key=limit.source,
            reason=limit.reason,
            randomised=limit.randomised,
            cleared=cleared,
            delay_max_s=limit.random_delay_max_s,
            declared=limit.declared,
        )

    @property
    def name(self) -> str:
        """The cause as text (``"ocpp"``, ``"restoration"``, ...)."""
        return self.key.value


# --------------------------------------------------------------------------- policy

DELAY: Final = True
NO_DELAY: Final = False

ENDS_A_DELAY: Final = frozenset({LimitSource.OWNER, LimitSource.DSR, LimitSource.SAFETY})
"""Causes whose rise ends a running delay at once: the owner's override and DSR
(regulation 11), and safety, whose path stays free of timers (regulation 8)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the policy: whether each policy delays, and why (for ``by_source``)."""

    by_source: bool
    always: bool
    why: str

    def delays(self, policy: Policy) -> bool:
        """This row's answer under ``policy``."""
        return self.by_source if policy == Policy.BY_SOURCE else self.always


_DSR = (
    "demand side response: regulation 11 says the delay does not operate; "
    "the aggregator owns the timing of its event, its end included"
)
_SAFETY_DOWN = (
    "protective: fault, tamper, over-temperature or integrity failure acts at once (regulation 8)"
)
_SAFETY_UP = (
    "a fault or tamper clearing is local to this charger (often the owner acknowledging it): "
    "random by nature, and the safety path stays free of timers"
)
_SUPPLY_DOWN = "protective: the premises' supply or fuse limit acts at once (regulation 8)"
_SUPPLY_UP = (
    "a supply cap raised is not protective, but local (the household's other load falls, "
    "an installer setting): random by nature; a fleet-wide rise would be DSR or a restoration"
)
_HARDWARE_DOWN = (
    "protective: board, cable or contactor rating, or derating, acts at once (regulation 8)"
)
_HARDWARE_UP = (
    "a hardware cap raised is not protective, but local (a cable of higher rating, a derating "
    "over as the unit cools): random by nature"
)
_OCPP = (
    "a schedule from the CSMS: many chargers receive the same schedule for the same moment, "
    "the case the delay exists for"
)
_DEFAULT_MODE = (
    "a default-mode boundary reached as time passes: every charger crosses it at the same instant"
)
_OWNER = (
    "an owner action (boost, pause, charging hours): the owner's override, "
    "expected to take effect at once"
)
_EMS = (
    "an energy manager that does not say why: it may follow a national tariff or price "
    "signal, so the charger cannot know and delays, to stay compliant"
)
_LOCAL = (
    "declared local by the energy manager (PV surplus, house load, battery): this home's "
    "own load and generation, random by nature"
)
_PRICE = (
    "a tariff or price signal: every follower of the same tariff moves at the same moment, "
    "the case the delay exists for"
)
_RANDOMISED = (
    "the source already applied an equivalent random delay (a CSMS configured as "
    "randomising): regulation 11 asks for no second one"
)
_PLUG_IN = (
    "the user chose the moment of plugging in: random by nature (``always``, like EVerest, "
    "still delays this start of electricity flow)"
)
_EV_PAUSE = (
    "the EV pauses or resumes within the offer it already has: random by nature, "
    "and the offer does not change"
)
_RESTORATION = (
    "charging restarts after a power cut with an EV connected: every charger on the feeder "
    "restarts at the same moment"
)

_S = LimitSource
_T = Trigger
_D = Direction

# The policy, as data. A cause matches the row of its key, the row of the cause
# its source declared (LOCAL, PRICE), and, for a limit flagged randomised, the
# RANDOMISED row too; it is delayed only if every row it
# matches says DELAY. ``always`` keeps NO_DELAY where no policy may hold a
# value: DSR (regulation 11), safety and protective decreases (regulation 8),
# and an EV's own pause, which does not change the offer.
POLICY_TABLE: Final[Mapping[tuple[CauseKey, Direction], Rule]] = MappingProxyType(
    {
        # (cause,            change):        Rule(by_source, always,   why)
        (_S.DSR, _D.START): Rule(NO_DELAY, NO_DELAY, _DSR),
        (_S.DSR, _D.STOP): Rule(NO_DELAY, NO_DELAY, _DSR),
        (_S.DSR, _D.INCREASE): Rule(NO_DELAY, NO_DELAY, _DSR),
        (_S.DSR, _D.DECREASE): Rule(NO_DELAY, NO_DELAY, _DSR),
        (_S.SAFETY, _D.START): Rule(NO_DELAY, NO_DELAY, _SAFETY_UP),
        (_S.SAFETY, _D.STOP): Rule(NO_DELAY, NO_DELAY, _SAFETY_DOWN),
        (_S.SAFETY, _D.INCREASE): Rule(NO_DELAY, NO_DELAY, _SAFETY_UP),
        (_S.SAFETY, _D.DECREASE): Rule(NO_DELAY, NO_DELAY, _SAFETY_DOWN),
        (_S.SUPPLY, _D.START): Rule(NO_DELAY, DELAY, _SUPPLY_UP),
        (_S.SUPPLY, _D.STOP): Rule(NO_DELAY, NO_DELAY, _SUPPLY_DOWN),
        (_S.SUPPLY, _D.INCREASE): Rule(NO_DELAY, DELAY, _SUPPLY_UP),
        (_S.SUPPLY, _D.DECREASE): Rule(NO_DELAY, NO_DELAY, _SUPPLY_DOWN),
        (_S.HARDWARE, _D.START): Rule(NO_DELAY, DELAY, _HARDWARE_UP),
        (_S.HARDWARE, _D.STOP): Rule(NO_DELAY, NO_DELAY, _HARDWARE_DOWN),
        (_S.HARDWARE, _D.INCREASE): Rule(NO_DELAY, DELAY, _HARDWARE_UP),
        (_S.HARDWARE, _D.DECREASE): Rule(NO_DELAY, NO_DELAY, _HARDWARE_DOWN),
        (_S.OCPP, _D.START): Rule(DELAY, DELAY, _OCPP),
        (_S.OCPP, _D.STOP): Rule(DELAY, DELAY, _OCPP),
        (_S.OCPP, _D.INCREASE): Rule(DELAY, DELAY, _OCPP),
        (_S.OCPP, _D.DECREASE): Rule(DELAY, DELAY, _OCPP),
        (_S.DEFAULT_MODE, _D.START): Rule(DELAY, DELAY, _DEFAULT_MODE),
        (_S.DEFAULT_MODE, _D.STOP): Rule(DELAY, DELAY, _DEFAULT_MODE),
        (_S.DEFAULT_MODE, _D.INCREASE): Rule(DELAY, DELAY, _DEFAULT_MODE),
        (_S.DEFAULT_MODE, _D.DECREASE): Rule(DELAY, DELAY, _DEFAULT_MODE),
        (_S.OWNER, _D.START): Rule(NO_DELAY, DELAY, _OWNER),
        (_S.OWNER, _D.STOP): Rule(NO_DELAY, DELAY, _OWNER),
        (_S.OWNER, _D.INCREASE): Rule(NO_DELAY, DELAY, _OWNER),
        (_S.OWNER, _D.DECREASE): Rule(NO_DELAY, DELAY, _OWNER),
        (_S.EMS, _D.START): Rule(DELAY, DELAY, _EMS),
        (_S.EMS, _D.STOP): Rule(DELAY, DELAY, _EMS),
        (_S.EMS, _D.INCREASE): Rule(DELAY, DELAY, _EMS),
        (_S.EMS, _D.DECREASE): Rule(DELAY, DELAY, _EMS),
        (_T.LOCAL, _D.START): Rule(NO_DELAY, DELAY, _LOCAL),
        (_T.LOCAL, _D.STOP): Rule(NO_DELAY, DELAY, _LOCAL),
        (_T.LOCAL, _D.INCREASE): Rule(NO_DELAY, DELAY, _LOCAL),
        (_T.LOCAL, _D.DECREASE): Rule(NO_DELAY, DELAY, _LOCAL),
        (_T.PRICE, _D.START): Rule(DELAY, DELAY, _PRICE),
        (_T.PRICE, _D.STOP): Rule(DELAY, DELAY, _PRICE),
        (_T.PRICE, _D.INCREASE): Rule(DELAY, DELAY, _PRICE),
        (_T.PRICE, _D.DECREASE): Rule(DELAY, DELAY, _PRICE),
        (_T.RANDOMISED, _D.START): Rule(NO_DELAY, DELAY, _RANDOMISED),
        (_T.RANDOMISED, _D.STOP): Rule(NO_DELAY, DELAY, _RANDOMISED),
        (_T.RANDOMISED, _D.INCREASE): Rule(NO_DELAY, DELAY, _RANDOMISED),
        (_T.RANDOMISED, _D.DECREASE): Rule(NO_DELAY, DELAY, _RANDOMISED),
        (_T.PLUG_IN, _D.START): Rule(NO_DELAY, DELAY, _PLUG_IN),
        (_T.EV_PAUSE, _D.STOP): Rule(NO_DELAY, NO_DELAY, _EV_PAUSE),
        (_T.EV_PAUSE, _D.START): Rule(NO_DELAY, NO_DELAY, _EV_PAUSE),
        (_T.RESTORATION, _D.START): Rule(DELAY, DELAY, _RESTORATION),
    }
)


def matching_rules(cause: Cause, direction: Direction) -> tuple[Rule, ...]:
    """The rows of :data:`POLICY_TABLE` that ``cause`` matches for ``direction``."""
    keys: list[CauseKey] = [cause.key]
    if cause.declared is not None:
        keys.append(Trigger(cause.declared.value))
    if cause.randomised:
        keys.append(Trigger.RANDOMISED)
    rules: list[Rule] = []
    for key in keys:
        rule = POLICY_TABLE.get((key, direction))
        if rule is None:
            raise LookupError(f"the random delay policy has no row for {key.value}/{direction}")
        rules.append(rule)
    return tuple(rules)


def policy_decision(policy: Policy, cause: Cause, direction: Direction) -> tuple[bool, str]:
    """Whether ``policy`` delays this cause and direction, and the row's reason.

    Any matching row that says NO_DELAY wins: a flag can only remove a delay.
    """
    rules = matching_rules(cause, direction)
    for rule in rules:
        if not rule.delays(policy):
            return False, rule.why
    return True, rules[0].why


def policy_table_markdown() -> str:
    """The policy table as Markdown, as docs/random-delay.md shows it."""

    def word(delay: bool) -> str:
        return "delay" if delay else "no delay"

    lines = [
        "| cause | change | by_source | always | why |",
        "|---|---|---|---|---|",
    ]
    for (key, direction), rule in POLICY_TABLE.items():
        lines.append(
            f"| {key.value} | {direction.value} | {word(rule.by_source)} "
            f"| {word(rule.always)} | {rule.why} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- settings


def validate_max_duration(value: object) -> int:
    """Return ``value`` if it is a whole number of seconds in 0..1800, else raise ValueError."""
    # bool is an int subclass; True seconds is a bug at the caller, not 1 s.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(
            "random delay max duration must be a whole number of seconds "
            f"from 0 to {MAX_DURATION_LIMIT_S}, got {value!r}"
        )
    if not 0 <= value <= MAX_DURATION_LIMIT_S:
        raise ValueError(
            f"random delay max duration must be from 0 to {MAX_DURATION_LIMIT_S} s "
            f"(0 = no delay), got {value}"
        )
    return value


@dataclass(frozen=True, slots=True)
class DelaySettings:
    """The delay's settings (names follow EVerest's ``uk_smartcharging_random_delay_*``)."""

    enabled: bool = True
    max_duration_s: int = DEFAULT_MAX_DURATION_S
    at_any_change: bool = True
    policy: Policy = Policy.BY_SOURCE

    def __post_init__(self) -> None:
        validate_max_duration(self.max_duration_s)
        # The config file spells the policy as text; accept it, refuse anything unknown.
        try:
            policy = Policy(self.policy)
        except ValueError:
            choices = ", ".join(p.value for p in Policy)
            raise ValueError(
                f"random delay policy must be one of {choices}, got {self.policy!r}"
            ) from None
        object.__setattr__(self, "policy", policy)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class Delay:
    """A running delay."""

    delay_id: int
    duration_s: int  # as drawn
    started: float  # monotonic seconds
    deadline: float  # monotonic seconds; lowering the maximum may bring it forward
    held: Offer  # what the EVSE keeps while the delay runs
    cause: Cause
    direction: Direction
    started_at: datetime | None = None  # wall time, for people; never used to decide


@dataclass(frozen=True, slots=True)
class DelayState:
    """Everything the core knows between events."""

    settings: DelaySettings
    offered: Offer  # what the EVSE has now
    requested: Offer  # the latest arbitrated limit
    ev_connected: bool = False
    delay: Delay | None = None
    next_id: int = 1


def initial_state(
    offer: Offer, *, settings: DelaySettings | None = None, ev_connected: bool = False
) -> DelayState:
    """A state with no delay running and the EVSE at ``offer``."""
    return DelayState(
        settings=settings or DelaySettings(),
        offered=offer,
        requested=offer,
        ev_connected=ev_connected,
    )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class LimitRequest:
    """The arbitrated limit changed from ``old`` to ``new`` because of ``cause``."""

    old: Offer
    new: Offer
    cause: Cause
    ev_connected: bool


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """The shell's timer for delay ``delay_id`` fired."""

    delay_id: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """End the running delay now; the latest request applies."""


@dataclass(frozen=True, slots=True)
class Enable:
    """Switch the delay on."""


@dataclass(frozen=True, slots=True)
class Disable:
    """Switch the delay off; a running delay ends and the latest request applies."""


@dataclass(frozen=True, slots=True)
class SetMaxDuration:
    """Change the maximum delay (whole seconds, 0..1800; 0 = no delay)."""

    seconds: int


@dataclass(frozen=True, slots=True)
class PowerRestored:
    """The charger is up again after a power cut and an EV is still connected."""

    reason: str = "power restored with an EV connected"


@dataclass(frozen=True, slots=True)
class EvPlugged:
    """An EV was plugged in."""


@dataclass(frozen=True, slots=True)
class EvUnplugged:
    """The EV was unplugged."""


Input: TypeAlias = (
    LimitRequest
    | TimerExpired
    | Cancel
    | Enable
    | Disable
    | SetMaxDuration
    | PowerRestored
    | EvPlugged
    | EvUnplugged
)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Decision:
    """What happened at a relevant time, and why."""

    cause: Cause
    direction: Direction
    delayed: bool  # the value is held (by a new delay or the running one)
    why: str
    drawn_s: int | None = None


@dataclass(frozen=True, slots=True)
class DelayEnded:
    """A delay ended: how long it ran, why, and the value that applies now."""

    delay: Delay
    reason: EndReason
    elapsed_s: float
    applied: Offer


@dataclass(frozen=True, slots=True)
class Output:
    """The value the EVSE must be offered now, and what happened to get there."""

    offer: Offer
    decision: Decision | None = None
    started: Delay | None = None
    ended: DelayEnded | None = None


@dataclass(frozen=True, slots=True)
class DelayStatus:
    """The delay as shown to the owner and the CSMS (EVerest's countdown, and more)."""

    enabled: bool
    max_duration_s: int
    at_any_change: bool
    policy: Policy
    running: bool
    remaining_s: int
    limit_during_delay_a: float | None
    limit_after_delay_a: float | None
    started_at: datetime | None
    cause: str | None
    reason: str | None
    duration_s: int | None


# --------------------------------------------------------------------------- the core


def step(
    state: DelayState,
    event: Input,
    now: float,
    draw: Draw,
    *,
    wall_now: datetime | None = None,
) -> tuple[DelayState, Output]:
    """Apply ``event`` at monotonic time ``now``; return the new state and the output.

    ``draw`` is called (with the maximum) only when a delay may start.
    ``wall_now`` is recorded as a delay's ``started_at`` and used for nothing else.
    """
    match event:
        case LimitRequest():
            return _on_limit(state, event, now, draw, wall_now)
        case TimerExpired(delay_id=delay_id):
            delay = state.delay
            # A stale or early timer is ignored: the shell's timer is a hint,
            # the deadline in the state is the authority.
            if delay is None or delay.delay_id != delay_id or now < delay.deadline - _EPS:
                return state, Output(offer=state.offered)
            return _end(state, EndReason.EXPIRED, now)
        case Cancel():
            if state.delay is None:
                return state, Output(offer=state.offered)
            return _end(state, EndReason.CANCELLED, now)
        case Enable():
            return _with_enabled(state, True), Output(offer=state.offered)
        case Disable():
            state = _with_enabled(state, False)
            if state.delay is None:
                return state, Output(offer=state.offered)
            return _end(state, EndReason.DISABLED, now)
        case SetMaxDuration(seconds=seconds):
            return _on_set_max(state, validate_max_duration(seconds), now)
        case PowerRestored(reason=reason):
            state = replace(state, ev_connected=True)
            if state.delay is not None or not state.requested.flowing:
                return state, Output(offer=state.offered)
            # The EVSE had nothing while the power was off: that is the value held.
            held = Offer(0.0, state.requested.phases, "random_delay")
            cause = Cause(Trigger.RESTORATION, reason=reason)
            return _relevant_time(state, cause, Direction.START, held, now, draw, wall_now)
        case EvPlugged():
            state = replace(state, ev_connected=True)
            if state.delay is not None or not state.requested.flowing:
                return state, Output(offer=state.offered)
            held = Offer(0.0, state.requested.phases, "random_delay")
            cause = Cause(Trigger.PLUG_IN, reason="EV plugged in")
            return _relevant_time(state, cause, Direction.START, held, now, draw, wall_now)
        case EvUnplugged():
            state = replace(state, ev_connected=False)
            if state.delay is None:
                return state, Output(offer=state.offered)
            return _end(state, EndReason.EV_DISCONNECTED, now)
    raise TypeError(f"not a random delay input: {event!r}")  # pragma: no cover


def status(state: DelayState, now: float) -> DelayStatus:
    """The status at monotonic time ``now``."""
    s = state.settings
    delay = state.delay
    if delay is None:
        return DelayStatus(
            enabled=s.enabled,
            max_duration_s=s.max_duration_s,
            at_any_change=s.at_any_change,
            policy=s.policy,
            running=False,
            remaining_s=0,
            limit_during_delay_a=None,
            limit_after_delay_a=None,
            started_at=None,
            cause=None,
            reason=None,
            duration_s=None,
        )
    # Round up so the countdown reads 1 until the very end, never 0 while holding.
    remaining = max(0, math.ceil(delay.deadline - now - _EPS))
    return DelayStatus(
        enabled=s.enabled,
        max_duration_s=s.max_duration_s,
        at_any_change=s.at_any_change,
        policy=s.policy,
        running=True,
        remaining_s=remaining,
        limit_during_delay_a=delay.held.amps,
        limit_after_delay_a=state.requested.amps,
        started_at=delay.started_at,
        cause=delay.cause.name,
        reason=delay.cause.reason,
        duration_s=delay.duration_s,
    )


def _with_enabled(state: DelayState, enabled: bool) -> DelayState:
    return replace(state, settings=replace(state.settings, enabled=enabled))


def _end(state: DelayState, reason: EndReason, now: float) -> tuple[DelayState, Output]:
    delay = state.delay
    if delay is None:  # pragma: no cover - callers check
        raise RuntimeError("no delay is running")
    # No second delay: the latest request applies at once.
    state = replace(state, offered=state.requested, delay=None)
    ended = DelayEnded(
        delay=delay, reason=reason, elapsed_s=max(0.0, now - delay.started), applied=state.requested
    )
    return state, Output(offer=state.offered, ended=ended)


def _pass(state: DelayState, decision: Decision | None) -> tuple[DelayState, Output]:
    state = replace(state, offered=state.requested)
    return state, Output(offer=state.offered, decision=decision)


def _hold(state: DelayState, decision: Decision | None) -> tuple[DelayState, Output]:
    return state, Output(offer=state.offered, decision=decision)


def _counts(settings: DelaySettings, direction: Direction) -> bool:
    """Whether ``direction`` is a relevant time under the settings."""
    return settings.at_any_change or direction in (Direction.START, Direction.STOP)


def _checked_draw(draw: Draw, maximum: int) -> int:
    drawn = draw(maximum)
    # A broken draw must never produce a delay longer than the maximum.
    if not isinstance(drawn, int) or isinstance(drawn, bool) or not 0 <= drawn <= maximum:
        raise ValueError(f"random delay draw must be a whole number in 0..{maximum}, got {drawn!r}")
    return drawn


def _relevant_time(
    state: DelayState,
    cause: Cause,
    direction: Direction,
    held: Offer,
    now: float,
    draw: Draw,
    wall_now: datetime | None,
) -> tuple[DelayState, Output]:
    """A relevant time with no delay running: start one, or pass the request through."""
    if equivalent(held, state.requested):
        return _pass(state, None)
    settings = state.settings
    delays, why = policy_decision(settings.policy, cause, direction)

    def passed(reason: str, drawn: int | None = None) -> tuple[DelayState, Output]:
        decision = Decision(cause, direction, delayed=False, why=reason, drawn_s=drawn)
        return _pass(state, decision)

    if not delays:
        return passed(why)
    if not settings.enabled:
        return passed("the random delay is disabled")
    maximum = settings.max_duration_s
    if cause.delay_max_s is not None:
        # OCPP 2.1 asks the station to delay each period by up to randomizedDelay: that
        # is this change's delay, in place of (never on top of) the charger's own.
        maximum = min(cause.delay_max_s, MAX_DURATION_LIMIT_S)
        why = f"{why}; the source sets the longest delay to {maximum} s (randomizedDelay)"
    if maximum == 0:
        return passed("the maximum delay is 0 s")
    drawn = _checked_draw(draw, maximum)
    if drawn == 0:
        return passed("drew 0 s: applies at once", drawn)
    delay = Delay(
        delay_id=state.next_id,
        duration_s=drawn,
        started=now,
        deadline=now + drawn,
        held=held,
        cause=cause,
        direction=direction,
        started_at=wall_now,
    )
    state = replace(state, offered=held, delay=delay, next_id=state.next_id + 1)
    decision = Decision(cause, direction, delayed=True, why=why, drawn_s=drawn)
    return state, Output(offer=state.offered, decision=decision, started=delay)


def _on_limit(
    state: DelayState,
    event: LimitRequest,
    now: float,
    draw: Draw,
    wall_now: datetime | None,
) -> tuple[DelayState, Output]:
    state = replace(state, requested=event.new, ev_connected=event.ev_connected)
    if state.delay is not None:
        return _on_limit_during_delay(state, event, now)
    direction = classify(event.old, event.new)
    # No EV, no flow: nothing to spread over time, so the value passes at once.
    if not event.ev_connected or direction is None or not _counts(state.settings, direction):
        return _pass(state, None)
    return _relevant_time(state, event.cause, direction, state.offered, now, draw, wall_now)


def _on_limit_during_delay(
    state: DelayState, event: LimitRequest, now: float
) -> tuple[DelayState, Output]:
    delay = state.delay
    if delay is None:  # pragma: no cover - caller checks
        raise RuntimeError("no delay is running")
    if not event.ev_connected:
        return _end(state, EndReason.EV_DISCONNECTED, now)
    if equivalent(delay.held, event.new):
        return _end(state, EndReason.RETURNED_TO_HELD, now)
    direction = classify(event.old, event.new)
    if direction is None:
        return _hold(state, None)
    delays, why = policy_decision(state.settings.policy, event.cause, direction)
    if delays:
        # Joins the running delay: never restarts or extends it.
        decision = Decision(event.cause, direction, delayed=True, why=why)
        return _hold(state, decision)
    lowering = direction in (Direction.DECREASE, Direction.STOP)
    below_held = classify(delay.held, event.new) in (Direction.DECREASE, Direction.STOP)
    if lowering and not below_held:
        # A lowered limit the held value already respects: lifting the hold
        # here would let the delayed change through early, at a higher value.
        decision = Decision(
            event.cause, direction, delayed=False, why=why + "; the held value is already within it"
        )
        return _hold(state, decision)
    if below_held or event.cause.key in ENDS_A_DELAY:
        # Below the held value nothing is left to hold back; and an owner override,
        # a DSR event or a safety change takes effect now, the latest request with it.
        state, out = _end(state, EndReason.SUPERSEDED, now)
        decision = Decision(event.cause, direction, delayed=False, why=why)
        return state, replace(out, decision=decision)
    # Any other rise waits with the running delay: releasing it would let the
    # change that started the delay through early.
    decision = Decision(
        event.cause, direction, delayed=False, why=why + "; waits for the running delay"
    )
    return _hold(state, decision)


def _on_set_max(state: DelayState, seconds: int, now: float) -> tuple[DelayState, Output]:
    state = replace(state, settings=replace(state.settings, max_duration_s=seconds))
    delay = state.delay
    if delay is None:
        return state, Output(offer=state.offered)
    # A delay never outlasts the maximum in force: lowering it caps the running one.
    deadline = min(delay.deadline, delay.started + seconds)
    if deadline <= now + _EPS:
        return _end(state, EndReason.MAX_REDUCED, now)
    state = replace(state, delay=replace(delay, deadline=deadline))
    return state, Output(offer=state.offered)
