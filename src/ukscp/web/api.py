"""The JSON API under /api/v1 (OpenAPI at /openapi.json).

Routes translate HTTP to calls on :class:`ChargerService` and back; they hold
no charger logic of their own. They are ``async`` so they run on the charger's
event loop, never on a worker thread beside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.staticfiles import StaticFiles

import ukscp
from ukscp.clock import LONDON
from ukscp.hardware.protocols import EvSimulator, SimulatedEvState
from ukscp.limits.ems import EmsCause
from ukscp.metering import Resolution
from ukscp.ocpp.service import OcppService
from ukscp.regulation.default_mode import FirstUseNotPending
from ukscp.regulation.dsr import UnknownEvent
from ukscp.security.credentials import SetupCodeFile
from ukscp.security.seclog import SecurityLog
from ukscp.security.tamper import TamperNotCleared
from ukscp.web.account_api import owner_router, public_router
from ukscp.web.auth import Auth
from ukscp.web.backend_api import backend_router
from ukscp.web.errors import ApiError, install_error_handlers
from ukscp.web.pages import STATIC_DIR, not_found_handler, pages_router
from ukscp.web.schemas import (
    DeletedView,
    DsrOverrideBody,
    DsrView,
    EmsLimitRequest,
    FirstUseBody,
    HistoryView,
    IntegrityView,
    LimitView,
    MaxDurationRequest,
    OverrideBody,
    RandomDelayView,
    ScheduleBody,
    ScheduleView,
    SessionRecordView,
    SimResult,
    StatusView,
    StorageView,
    UpdatesView,
)


class ChargerService(Protocol):
    """What the API may ask of the charger."""

    def status(self) -> StatusView:
        """What the charger is doing now."""
        ...

    def set_ems_limit(self, amps: float, cause: EmsCause | None) -> LimitView:
        """Set the local energy manager's limit; returns the arbitrated limit."""
        ...

    def clear_ems_limit(self) -> LimitView:
        """Remove the local energy manager's limit; returns the arbitrated limit."""
        ...

    def random_delay(self) -> RandomDelayView:
        """The randomised delay's settings and countdown."""
        ...

    def enable_random_delay(self) -> RandomDelayView:
        """Switch the randomised delay on."""
        ...

    def disable_random_delay(self) -> RandomDelayView:
        """Switch the randomised delay off."""
        ...

    def cancel_random_delay(self) -> RandomDelayView:
        """End the running delay now."""
        ...

    def set_random_delay_max(self, seconds: int) -> RandomDelayView:
        """Set the maximum delay."""
        ...

    def schedule(self) -> ScheduleView:
        """Charging hours, first use, boost and DSR override."""
        ...

    def set_schedule(self, body: dict[str, Any]) -> ScheduleView:
        """Set the charging hours (ValueError when they make no sense)."""
        ...

    def first_use(self, choice: str, windows: list[dict[str, Any]] | None) -> ScheduleView:
        """Record the first-use choice (FirstUseNotPending once made)."""
        ...

    def boost(self, until: datetime | None, duration_s: int | None) -> ScheduleView:
        """Charge now."""
        ...

    def cancel_boost(self) -> ScheduleView:
        """End the boost."""
        ...

    def override_dsr(self, until: datetime | None, duration_s: int | None) -> ScheduleView:
        """Override DSR events."""
        ...

    def dsr(self) -> DsrView:
        """The DSR events known, in force first, and the owner's override of them all."""
        ...

    def opt_out_of_dsr_event(self, event_id: str) -> ScheduleView:
        """The owner opts out of one DSR event in force (UnknownEvent if none has that id)."""
        ...

    def cancel_dsr_override(self) -> ScheduleView:
        """End the DSR override."""
        ...

    def meter_history(
        self, start: datetime | None, end: datetime | None, resolution: Resolution
    ) -> HistoryView:
        """Meter history (ValueError for a bad period)."""
        ...

    def meter_csv(
        self, start: datetime | None, end: datetime | None, resolution: Resolution
    ) -> Iterator[str]:
        """Meter history as CSV lines."""
        ...

    def sessions(self, limit: int, offset: int) -> list[SessionRecordView]:
        """Charging sessions, newest first."""
        ...

    async def delete_personal_data(self, username: str) -> DeletedView:
        """Delete the owner's personal data in one action."""
        ...

    def integrity(self) -> IntegrityView:
        """The latest software integrity check and the secure-boot state."""
        ...

    def acknowledge_tamper(self) -> StatusView:
        """Clear the tamper alarm."""
        ...

    def updates(self) -> UpdatesView:
        """Update-check status."""
        ...

    async def check_for_updates(self) -> UpdatesView:
        """Check for a newer release now."""
        ...

    @property
    def sim(self) -> EvSimulator | None:
        """The simulator driver's controls, or None when the driver has none."""
        ...


# Sessions are kept 13 months: even one a minute would be fewer than this.
MAX_SESSIONS_OFFSET = 1_000_000


def _london(moment: datetime | None) -> datetime | None:
    """A time given without an offset is the charger's local time."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=LONDON)


@contextlib.contextmanager
def _refused_in_words() -> Iterator[None]:
    """Turn the domain's refusals into API errors: 409 for a conflict, 422 for bad values."""
    try:
        yield
    except FirstUseNotPending as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def create_api(
    charger: ChargerService,
    auth: Auth,
    setup_codes: SetupCodeFile,
    seclog: SecurityLog,
    backend: OcppService,
) -> FastAPI:
    """Build the ASGI application serving the API for ``charger``.

    Health, setup and login are open; every other route needs the owner's session.
    """
    app = FastAPI(
        title="ukscp charge point",
        version=ukscp.__version__,
        description="Local API of a UK smart charge point.",
    )
    install_error_handlers(app)
    app.include_router(public_router(auth, setup_codes))
    app.include_router(owner_router(auth, seclog))
    app.include_router(backend_router(backend, auth))
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.require_owner)])

    @api.get("/status", response_model=StatusView, tags=["status"])
    async def get_status() -> StatusView:
        """EVSE state, offered and measured current, power, session energy, binding limit."""
        return charger.status()

    @api.post("/limits/ems", response_model=LimitView, tags=["limits"])
    async def set_ems_limit(body: EmsLimitRequest) -> LimitView:
        """Set the limit of a local energy manager."""
        return charger.set_ems_limit(body.amps, body.cause)

    @api.delete("/limits/ems", response_model=LimitView, tags=["limits"])
    async def clear_ems_limit() -> LimitView:
        """Remove the limit of a local energy manager."""
        return charger.clear_ems_limit()

    @api.get("/random-delay", response_model=RandomDelayView, tags=["random delay"])
    async def get_random_delay() -> RandomDelayView:
        """Settings and countdown of the randomised delay (regulation 11)."""
        return charger.random_delay()

    @api.put("/random-delay", response_model=RandomDelayView, tags=["random delay"])
    async def put_random_delay(body: MaxDurationRequest) -> RandomDelayView:
        """Set the maximum delay, whole seconds 0..1800 (0: no delay)."""
        return charger.set_random_delay_max(body.max_duration_s)

    @api.post("/random-delay/enable", response_model=RandomDelayView, tags=["random delay"])
    async def enable_random_delay() -> RandomDelayView:
        """Switch the randomised delay on."""
        return charger.enable_random_delay()

    @api.post("/random-delay/disable", response_model=RandomDelayView, tags=["random delay"])
    async def disable_random_delay() -> RandomDelayView:
        """Switch the randomised delay off; a running delay ends and its change applies."""
        return charger.disable_random_delay()

    @api.post("/random-delay/cancel", response_model=RandomDelayView, tags=["random delay"])
    async def cancel_random_delay() -> RandomDelayView:
        """The owner's override: end the running delay now; the next one is unaffected."""
        return charger.cancel_random_delay()

    @api.get("/schedule", response_model=ScheduleView, tags=["charging hours"])
    async def get_schedule() -> ScheduleView:
        """Charging hours (regulation 10), first-use state, boost."""
        return charger.schedule()

    @api.put("/schedule", response_model=ScheduleView, tags=["charging hours"])
    async def put_schedule(body: ScheduleBody) -> ScheduleView:
        """Set the charging hours: default off-peak, custom windows, or removed."""
        with _refused_in_words():
            return charger.set_schedule(body.model_dump(exclude_none=True))

    @api.post("/schedule/first-use", response_model=ScheduleView, tags=["charging hours"])
    async def first_use(body: FirstUseBody) -> ScheduleView:
        """The owner's first-use choice: accept the default hours, remove them, or set others."""
        windows = None if body.windows is None else [w.model_dump() for w in body.windows]
        with _refused_in_words():
            return charger.first_use(body.choice, windows)

    @api.post("/boost", response_model=ScheduleView, tags=["charging hours"])
    async def boost(body: OverrideBody | None = None) -> ScheduleView:
        """Charge now, whatever the hours: until a time, for a while, or for this session."""
        body = body or OverrideBody()
        with _refused_in_words():
            return charger.boost(body.until, body.duration_s)

    @api.delete("/boost", response_model=ScheduleView, tags=["charging hours"])
    async def cancel_boost() -> ScheduleView:
        """End the boost: the charging hours apply again."""
        return charger.cancel_boost()

    @api.get("/dsr", response_model=DsrView, tags=["charging hours"])
    async def dsr() -> DsrView:
        """The DSR events known (from every channel), in force first, and the owner's choice."""
        return charger.dsr()

    @api.post("/dsr/override", response_model=ScheduleView, tags=["charging hours"])
    async def override_dsr(body: DsrOverrideBody | None = None) -> ScheduleView:
        """The owner overrides demand side response (regulation 10), never delayed: one event
        (``event_id``, until it ends), or every event until a time, a while, or the session."""
        body = body or DsrOverrideBody()
        if body.event_id is not None:
            try:
                return charger.opt_out_of_dsr_event(body.event_id)
            except UnknownEvent as exc:
                raise ApiError(404, str(exc)) from None
        with _refused_in_words():
            return charger.override_dsr(body.until, body.duration_s)

    @api.delete("/dsr/override", response_model=ScheduleView, tags=["charging hours"])
    async def cancel_dsr_override() -> ScheduleView:
        """End the owner's DSR override: DSR events in force apply again."""
        return charger.cancel_dsr_override()

    @api.get("/meter/history", response_model=HistoryView, tags=["measuring"])
    async def meter_history(
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        resolution: Resolution = "1h",
    ) -> HistoryView:
        """Energy and power per bucket (1s, 1m, 1h, 1d); naive times are Europe/London."""
        with _refused_in_words():
            return charger.meter_history(_london(start), _london(end), resolution)

    @api.get("/meter/export.csv", tags=["measuring"], response_class=StreamingResponse)
    async def meter_export(
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        resolution: Resolution = "1m",
    ) -> StreamingResponse:
        """The meter history as CSV, for the owner to keep."""
        with _refused_in_words():
            lines = charger.meter_csv(_london(start), _london(end), resolution)
        return StreamingResponse(
            lines,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="ukscp-meter.csv"'},
        )

    @api.get("/sessions", response_model=list[SessionRecordView], tags=["measuring"])
    async def sessions(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_SESSIONS_OFFSET)] = 0,
    ) -> list[SessionRecordView]:
        """Charging sessions, newest first, with every rate change and its cause."""
        return charger.sessions(limit, offset)

    @api.delete("/personal-data", response_model=DeletedView, tags=["measuring"])
    async def delete_personal_data(request: Request, response: Response) -> DeletedView:
        """Delete, in one action, all that ties charging to a person: sessions, the event
        history of charging, the back end the owner chose, every web session (this one
        too: log in again). The security log and the energy measurements stay."""
        caller = auth.caller(request)
        if caller is None:  # ended since the router checked it (a deletion at the same time)
            raise ApiError(401, "log in first (POST /api/v1/login)")
        deleted = await charger.delete_personal_data(caller.username)
        auth.end_session(response)
        return deleted

    @api.get("/integrity", response_model=IntegrityView, tags=["security"])
    async def integrity() -> IntegrityView:
        """Last software integrity check (time, result, changed files) and secure-boot state."""
        return charger.integrity()

    @api.get("/storage", response_model=StorageView, tags=["security"])
    async def storage() -> StorageView:
        """Problems found with the stored data since the charger started, for the owner.

        A security log whose hash chain does not verify; a database that could not
        be read, kept under another name and begun anew.
        """
        return StorageView.model_validate(
            {"problems": [asdict(problem) for problem in seclog.problems()]}
        )

    @api.get("/updates", response_model=UpdatesView, tags=["security"])
    async def updates() -> UpdatesView:
        """The latest check for a newer release (signed, TUF-verified)."""
        return charger.updates()

    @api.post("/updates/check", response_model=UpdatesView, tags=["security"])
    async def check_for_updates() -> UpdatesView:
        """Check for a newer release now; no network gives "could_not_check", not an error."""
        return await charger.check_for_updates()

    @api.post("/tamper/acknowledge", response_model=StatusView, tags=["security"])
    async def acknowledge_tamper() -> StatusView:
        """The owner has seen the tamper alarm and clears it; charging may resume."""
        try:
            return charger.acknowledge_tamper()
        except TamperNotCleared as exc:
            raise ApiError(409, str(exc)) from None

    def _sim() -> EvSimulator:
        if charger.sim is None:
            raise ApiError(404, "the simulator is not in use on this charger")
        return charger.sim

    def _sim_result(state: SimulatedEvState) -> SimResult:
        return SimResult(plugged_in=state.plugged_in, paused=state.paused, soc=state.soc)

    @api.post("/sim/plug", response_model=SimResult, tags=["simulator"])
    async def sim_plug() -> SimResult:
        """Simulator only: plug the simulated EV in."""
        return _sim_result(_sim().plug())

    @api.post("/sim/unplug", response_model=SimResult, tags=["simulator"])
    async def sim_unplug() -> SimResult:
        """Simulator only: unplug the simulated EV."""
        return _sim_result(_sim().unplug())

    @api.post("/sim/pause", response_model=SimResult, tags=["simulator"])
    async def sim_pause() -> SimResult:
        """Simulator only: the EV pauses charging, or resumes if paused."""
        return _sim_result(_sim().pause())

    @api.post("/sim/tamper", response_model=SimResult, tags=["simulator"])
    async def sim_tamper() -> SimResult:
        """Simulator only: open the enclosure (trips the tamper switch)."""
        return _sim_result(_sim().tamper())

    app.include_router(api)
    app.include_router(pages_router(charger, auth))
    app.add_exception_handler(404, not_found_handler(charger, auth))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
