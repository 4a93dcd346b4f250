"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitView(_Body):
    """The arbitrated limit and the source that binds it."""

    amps: float = Field(description="Current per phase allowed by all active limits.")
    phases: int
    source: str = Field(description="Source of the binding limit (hardware, supply, ocpp, ...).")
    reason: str


class SessionView(_Body):
    """The charging session in progress."""

    id: str
    started_at: datetime
    energy_wh: float


class RandomDelayView(_Body):
    """The randomised delay of regulation 11: settings and the running countdown."""

    enabled: bool
    max_duration_s: int = Field(description="Largest delay drawn, whole seconds 0..1800.")
    at_any_change: bool = Field(description="Increases and decreases count, not only start/stop.")
    policy: str = Field(description="by_source (ukscp) or always (EVerest).")
    running: bool
    remaining_s: int = Field(description="Seconds until the held change applies.")
    limit_during_delay_a: float | None = Field(description="Current held while the delay runs.")
    limit_after_delay_a: float | None = Field(description="Current that applies when it ends.")
    started_at: datetime | None
    cause: str | None = Field(description="What caused the delayed change (ocpp, restoration...).")
    reason: str | None
    duration_s: int | None = Field(description="The delay drawn for this change.")


class MaxDurationRequest(_Body):
    """A new maximum for the randomised delay."""

    max_duration_s: int = Field(
        ge=0, le=1800, strict=True, description="Whole seconds 0..1800; 0 means no delay."
    )


class StatusView(_Body):
    """What the charger is doing now."""

    time: datetime
    state: str = Field(description="IEC 61851 control-pilot state A-F.")
    ev_connected: bool
    contactor_closed: bool
    offered_current_a: float = Field(description="Current offered to the EV via the pilot PWM.")
    phases: int
    measured_current_a: float = Field(description="Highest measured phase current.")
    power_w: float
    energy_import_wh: float = Field(description="The meter's import register.")
    session: SessionView | None
    limit: LimitView
    random_delay: RandomDelayView


class EmsLimitRequest(_Body):
    """A limit from a local energy manager (e.g. PV surplus)."""

    amps: float = Field(ge=0, le=100, allow_inf_nan=False, description="Amps per phase.")


class SimResult(_Body):
    """The simulated EV after a simulator command."""

    plugged_in: bool
    paused: bool
    soc: float = Field(description="State of charge of the simulated battery, 0..1.")
