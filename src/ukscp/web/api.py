"""The JSON API under /api/v1 (OpenAPI at /openapi.json).

Routes translate HTTP to calls on :class:`ChargerService` and back; they hold
no charger logic of their own. They are ``async`` so they run on the charger's
event loop, never on a worker thread beside it.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter, FastAPI

import ukscp
from ukscp.web.errors import ApiError, install_error_handlers
from ukscp.web.schemas import (
    EmsLimitRequest,
    LimitView,
    MaxDurationRequest,
    RandomDelayView,
    SimResult,
    StatusView,
)


class SimControls(Protocol):
    """The simulated EV, as its owner would handle it."""

    def plug(self) -> SimResult:
        """Plug the EV in."""
        ...

    def unplug(self) -> SimResult:
        """Unplug the EV."""
        ...

    def pause(self) -> SimResult:
        """Toggle an EV-initiated pause."""
        ...


class ChargerService(Protocol):
    """What the API may ask of the charger."""

    def status(self) -> StatusView:
        """What the charger is doing now."""
        ...

    def set_ems_limit(self, amps: float) -> LimitView:
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

    @property
    def sim(self) -> SimControls | None:
        """The simulator's controls, or None on real hardware."""
        ...


def create_api(charger: ChargerService) -> FastAPI:
    """Build the ASGI application serving the API for ``charger``."""
    app = FastAPI(
        title="ukscp charge point",
        version=ukscp.__version__,
        description="Local API of a UK smart charge point.",
    )
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")

    @api.get("/status", response_model=StatusView, tags=["status"])
    async def get_status() -> StatusView:
        """EVSE state, offered and measured current, power, session energy, binding limit."""
        return charger.status()

    @api.post("/limits/ems", response_model=LimitView, tags=["limits"])
    async def set_ems_limit(body: EmsLimitRequest) -> LimitView:
        """Set the limit of a local energy manager."""
        return charger.set_ems_limit(body.amps)

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

    def _sim() -> SimControls:
        if charger.sim is None:
            raise ApiError(404, "the simulator is not in use on this charger")
        return charger.sim

    @api.post("/sim/plug", response_model=SimResult, tags=["simulator"])
    async def sim_plug() -> SimResult:
        """Simulator only: plug the simulated EV in."""
        return _sim().plug()

    @api.post("/sim/unplug", response_model=SimResult, tags=["simulator"])
    async def sim_unplug() -> SimResult:
        """Simulator only: unplug the simulated EV."""
        return _sim().unplug()

    @api.post("/sim/pause", response_model=SimResult, tags=["simulator"])
    async def sim_pause() -> SimResult:
        """Simulator only: the EV pauses charging, or resumes if paused."""
        return _sim().pause()

    app.include_router(api)
    return app
