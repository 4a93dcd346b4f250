"""The owner's choice of back end over the JSON API (regulation 6).

``GET /api/v1/backend`` shows the back end in force, ``PUT`` points the charger
at another one (checked first: a choice that cannot work is refused in words and
changes nothing), ``DELETE`` goes back to the config file's back end.
"""

from dataclasses import asdict

from fastapi import APIRouter, Depends

from ukscp.ocpp.backend import BackendChoice, BackendError
from ukscp.ocpp.service import BackendStatus, OcppService
from ukscp.web.auth import Auth
from ukscp.web.errors import ApiError
from ukscp.web.schemas import Body


class BackendView(Body):
    """The back end in force; the key is never shown, only whether one is stored."""

    enabled: bool
    version: str
    url: str
    identity: str
    security_profile: int
    ca_file: str | None
    authorization_key_set: bool
    chosen_by: str
    online: bool


def _view(status: BackendStatus) -> BackendView:
    return BackendView.model_validate(asdict(status))


def backend_router(service: OcppService, auth: Auth) -> APIRouter:
    """Routes to read and change the back end; all need the owner's session."""
    router = APIRouter(
        prefix="/api/v1", tags=["back end"], dependencies=[Depends(auth.require_owner)]
    )

    @router.get("/backend", response_model=BackendView)
    async def get_backend() -> BackendView:
        """The back end the charger reports to, and whether it is connected."""
        return _view(service.status())

    @router.put("/backend", response_model=BackendView)
    async def choose_backend(body: BackendChoice) -> BackendView:
        """Report to another back end from now on; every other setting stays."""
        try:
            return _view(await service.choose(body))
        except BackendError as exc:
            raise ApiError(422, str(exc)) from None

    @router.delete("/backend", response_model=BackendView)
    async def revert_backend() -> BackendView:
        """Go back to the back end of the config file."""
        return _view(await service.revert())

    return router
