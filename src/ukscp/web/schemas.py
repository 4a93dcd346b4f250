"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ukscp.limits.ems import EmsCause
from ukscp.regulation.default_mode import MAX_OVERRIDE


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitView(Body):
    """The arbitrated limit and the source that binds it."""

    amps: float = Field(description="Current per phase allowed by all active limits.")
    phases: int
    source: str = Field(description="Source of the binding limit (hardware, supply, ocpp, ...).")
    reason: str


class SessionView(Body):
    """The charging session in progress."""

    id: str
    started_at: datetime
    energy_wh: float


class RandomDelayView(Body):
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


class MaxDurationRequest(Body):
    """A new maximum for the randomised delay."""

    max_duration_s: int = Field(
        ge=0, le=1800, strict=True, description="Whole seconds 0..1800; 0 means no delay."
    )


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WindowBody(Body):
    """Charging allowed on ``days`` from ``start`` to ``end``, Europe/London time.

    ``HH:MM`` on the minute; an end before the start runs into the next day,
    ``24:00`` (or ``00:00``) is the midnight ending the start day.
    """

    days: list[Day] = Field(min_length=1)
    start: str = Field(examples=["22:00"])
    end: str = Field(examples=["08:00"])


class ScheduleBody(Body):
    """The owner's charging hours."""

    mode: Literal["default", "custom", "removed"] = Field(
        description="default: off-peak hours; custom: the windows; removed: any time."
    )
    windows: list[WindowBody] | None = None


class FirstUseBody(Body):
    """The owner's choice at first use (regulation 10)."""

    choice: Literal["accept", "remove", "custom"]
    windows: list[WindowBody] | None = Field(None, description="Only with custom.")


class OverrideView(Body):
    """A boost or DSR override in force."""

    started_at: datetime
    until: datetime | None
    until_session_end: bool


class FirstUseView(Body):
    """The first-use choice the owner made."""

    choice: str
    at: datetime


class ScheduleView(Body):
    """Charging hours, first use, boost and DSR override."""

    mode: str
    windows: list[WindowBody]
    schedule_source: str = Field(description="default, dsr_agreement or owner.")
    changed_at: datetime | None
    first_use_pending: bool
    first_use: FirstUseView | None
    sold_with_dsr_agreement: bool
    within_charging_hours: bool
    charging_allowed: bool
    next_change_at: datetime | None
    boost: OverrideView | None
    dsr_override: OverrideView | None


class OverrideBody(Body):
    """A boost or DSR override: give ``until`` or ``duration_s``, or neither for the session."""

    until: AwareDatetime | None = Field(
        None, description="When it ends: in the future, at most 7 days ahead."
    )
    duration_s: int | None = Field(
        None, ge=60, le=int(MAX_OVERRIDE.total_seconds()), strict=True,
        description="How long it lasts, whole seconds: 60 up to 7 days.",
    )

    @model_validator(mode="after")
    def _one_end(self) -> OverrideBody:
        if self.until is not None and self.duration_s is not None:
            raise ValueError("give until or duration_s, not both")
        return self


class DsrOverrideBody(OverrideBody):
    """The owner's DSR override: one event (``event_id``), or every event for a while."""

    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description=(
            "Opt out of this one event in force (its limit goes at once and the choice ends "
            "with the event); none: override every DSR event until, for, or this session."
        ),
    )

    @model_validator(mode="after")
    def _event_or_time(self) -> DsrOverrideBody:
        if self.event_id is not None and (self.until is not None or self.duration_s is not None):
            raise ValueError("an opt-out of one event lasts as long as the event: no until")
        return self


class DsrEventView(Body):
    """A demand side response event the charger knows of, and the owner's choice."""

    id: str
    source: str = Field(description="Its channel: ocpp (a DSR-provider CSMS), openadr, ems.")
    amps: float = Field(description="The most it allows per phase.")
    reason: str
    started_at: datetime | None
    until: datetime | None = Field(description="Its announced end, where the channel says.")
    ended_at: datetime | None
    active: bool
    opted_out: bool = Field(description="The owner opted out of it (regulation 10).")


class DsrView(Body):
    """The DSR events known, in force first, and the owner's override of them all."""

    override_until: datetime | None = Field(
        description="The owner's override of every event runs until then (null: none, or "
        "until the session ends: see override_until_session_end)."
    )
    override_until_session_end: bool
    overridden: bool = Field(description="Every DSR event is overridden now.")
    events: list[DsrEventView]


class HistoryRowView(Body):
    """Energy and power in one bucket of the meter history."""

    start: datetime = Field(description="Start of the bucket, Europe/London time.")
    import_wh: float
    export_wh: float
    mean_power_w: float | None
    max_power_w: float | None
    max_current_a: float | None
    partial: bool = Field(
        False, description="The bucket in progress: figures measured up to this request."
    )


class HistoryView(Body):
    """The meter history between two times at one resolution."""

    start: datetime
    end: datetime
    resolution: str
    rows: list[HistoryRowView]


class RateChangeView(Body):
    """A change of charging rate within a session, and why."""

    at: datetime
    kind: str = Field(description="initial, limit or offered.")
    amps: float
    phases: int
    source: str
    cause: str
    binding_source: str | None


class SessionRecordView(Body):
    """One charging session as the measuring system recorded it."""

    session_id: str
    started_at: datetime
    stopped_at: datetime | None
    import_wh: float | None
    export_wh: float | None
    duration_s: float | None
    peak_power_w: float | None
    end_reason: str | None
    rate_changes: list[RateChangeView]


class DeletedView(Body):
    """What the owner's request to delete personal data removed."""

    sessions: int
    rate_changes: int
    history_events: int = Field(description="Events of charging deleted from the history.")
    owner_backend_forgotten: bool = Field(
        description="The back end the owner chose (and its key) was forgotten."
    )
    web_sessions: int = Field(description="Logged-in sessions ended, the caller's included.")


class IntegrityCheckView(Body):
    """One check of the installed software against the signed release manifest."""

    checked_at: datetime
    ok: bool
    signature_valid: bool
    summary: str
    changed: list[str]
    added: list[str]
    missing: list[str]


class IntegrityView(Body):
    """Software integrity and secure boot, as the owner and an assessor see them."""

    configured: bool = Field(description="A signed manifest and a trusted key were provisioned.")
    last_check: IntegrityCheckView | None
    secure_boot: str = Field(description="enabled, disabled, or unknown (and why).")


class StorageProblemView(Body):
    """Something wrong with the charger's stored data, found since it started."""

    at: datetime
    kind: Literal["chain_broken", "moved_aside"] = Field(
        description="chain_broken: the security log's hash chain does not verify; "
        "moved_aside: a database could not be read, was renamed and begun anew."
    )
    database: str = Field(description="The database's file name in the data directory.")
    detail: str = Field(description="What SQLite or the chain check found.")
    moved_to: str | None = Field(description="The name the damaged file was kept under.")


class StorageView(Body):
    """The state of the charger's stored data, for the owner's alert."""

    problems: list[StorageProblemView]


class UpdateCheckView(Body):
    """One check for a newer release (TUF-verified)."""

    checked_at: datetime
    outcome: str = Field(description="up_to_date, update_available, could_not_check, rejected.")
    current_version: str
    available_version: str | None
    detail: str


class FirmwareSlotView(Body):
    """The firmware slot the charger starts from (written when an install completes)."""

    slot: str = Field(description="a or b.")
    version: str
    wheel: str
    sha256: str
    request_id: int | None = Field(description="The CSMS's firmware request that installed it.")
    installed_at: str
    site_sha256: str | None = Field(
        default=None, description="Digest of the unpacked files' record, checked at each boot."
    )
    confirmed: bool = Field(
        default=False, description="It has started and become ready once (no fallback now)."
    )
    previous: dict[str, object] | None = Field(description="The slot it replaced, if any.")


class FirmwareRequestView(Body):
    """The latest signed-firmware request from the CSMS and where it stands."""

    request_id: int
    status: str | None = Field(description="The last OCPP firmware status sent (null: none yet).")
    detail: str
    updated_at: datetime
    version: str | None
    slot: str | None


class FirmwareView(Body):
    """Signed firmware installed through OCPP: the active slot and the latest request."""

    running_version: str
    root_ca_provisioned: bool = Field(description="updates.firmware_root_ca_file is set.")
    active_slot: FirmwareSlotView | None = Field(
        description="The installed slot (active at the next start); null: the factory software."
    )
    last_request: FirmwareRequestView | None


class UpdatesView(Body):
    """Whether update checks are provisioned, and the latest result."""

    configured: bool
    repository_url: str | None
    last_check: UpdateCheckView | None
    firmware: FirmwareView | None = None


class StatusView(Body):
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
    charging_allowed_by_schedule: bool = Field(
        description="Whether the charging hours (or a boost) allow charging now."
    )
    first_use_pending: bool = Field(description="The owner has not yet chosen charging hours.")
    tamper_alarm_since: datetime | None = Field(
        description="The enclosure was opened: charging is stopped until the owner acknowledges."
    )


class EmsLimitRequest(Body):
    """A limit from a local energy manager, and why it sets it."""

    # strict: a JSON number only; true would be taken as 1 A and "7.5" as 7.5 A.
    amps: float = Field(
        ge=0, le=100, allow_inf_nan=False, strict=True, description="Amps per phase (a number)."
    )
    cause: EmsCause | None = Field(
        None,
        description=(
            "Why: `local` (PV surplus, house load, battery: no randomised delay), `price` "
            "(a tariff or price signal: delayed), `dsr` (a demand side response event: "
            "never delayed), `randomised` (already randomised: no second delay). "
            "None given: delayed, since the charger cannot know."
        ),
    )


class SimResult(Body):
    """The simulated EV after a simulator command."""

    plugged_in: bool
    paused: bool
    soc: float = Field(description="State of charge of the simulated battery, 0..1.")
