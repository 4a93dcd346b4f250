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
from ukscp.web.schemas import EmsLimitRequest, LimitView, SimResult, StatusView


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
