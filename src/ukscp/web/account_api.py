"""Setup, login and the security log over the JSON API.

No ``from __future__ import annotations`` here: FastAPI must resolve the
``owner`` dependency alias, which is local to each router factory.
"""


import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from ukscp.security.credentials import (
    InvalidCredentials,
    InvalidSetupCode,
    InvalidUsername,
    LockedOut,
    SessionToken,
    SetupAlreadyDone,
    SetupCodeFile,
    WeakPassword,
)
from ukscp.security.password_worker import PasswordWorkerBusy
from ukscp.security.seclog import SecurityLog
from ukscp.storage import MAX_INTEGER
from ukscp.web.auth import Auth, Caller
from ukscp.web.errors import ApiError
from ukscp.web.schemas import Body


class SetupBody(Body):
    """First start: prove physical access with the setup code and choose a password."""

    setup_code: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginBody(Body):
    """The owner's credentials."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PasswordBody(Body):
    """A new password, with the current one."""

    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class OwnerSessionView(Body):
    """An owner session: the bearer token (scripts) and the CSRF token (the page)."""

    username: str
    token: str | None = Field(None, description="Bearer token; only in the login answer.")
    csrf_token: str
    expires_at: datetime | None = None


class HealthView(Body):
    """Liveness only: nothing about the charger's state."""

    status: str
    setup_done: bool


class SecurityRecordView(Body):
    """One record of the tamper-evident security log."""

    id: int
    timestamp: datetime
    type: str
    info: str
    critical: bool
    prev_hash: str
    hash: str
    delivered: bool


class ChainCheckView(Body):
    """Whether the security log's hash chain is intact, and where it breaks."""

    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str


_BUSY_RETRY_S = 5


@contextlib.contextmanager
def _credential_errors() -> Iterator[None]:
    """The account module's refusals as API errors, in words."""
    try:
        yield
    except LockedOut as exc:
        retry = max(1, round(exc.retry_after_s))
        raise ApiError(
            429, f"too many failed attempts: try again in {retry} s", {"retry_after_s": retry}
        ) from None
    except PasswordWorkerBusy:
        raise ApiError(
            503,
            f"the charger is busy checking other logins: try again in {_BUSY_RETRY_S} s",
            {"retry_after_s": _BUSY_RETRY_S},
        ) from None
    except InvalidCredentials:
        raise ApiError(401, "wrong username or password") from None
    except InvalidSetupCode:
        raise ApiError(403, "the setup code is not correct") from None
    except SetupAlreadyDone:
        raise ApiError(409, "the charger is already set up; log in instead") from None
    except (WeakPassword, InvalidUsername) as exc:
        raise ApiError(422, str(exc)) from None


def _session_view(auth: Auth, session: SessionToken) -> OwnerSessionView:
    return OwnerSessionView(
        username=session.username,
        token=session.token,
        csrf_token=session.csrf,
        expires_at=session.expires_at,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public_router(auth: Auth, setup_codes: SetupCodeFile) -> APIRouter:
    """Routes that work without a session: health, setup, login."""
    router = APIRouter(prefix="/api/v1", tags=["owner account"])

    @router.get("/health", response_model=HealthView)
    async def health() -> HealthView:
        """The charger is up (and whether the owner has set it up)."""
        return HealthView(status="ok", setup_done=auth.setup_done)

    @router.post("/setup", response_model=OwnerSessionView)
    async def setup(body: SetupBody, request: Request, response: Response) -> OwnerSessionView:
        """Create the owner account with the one-time setup code, and log in."""
        client = _client(request)

        def set_up() -> SessionToken:
            auth.accounts.complete_setup(
                body.setup_code, body.username, body.password, setup_codes, client=client
            )
            return auth.accounts.login(body.username, body.password, client)

        with _credential_errors():
            session = await auth.passwords.run(set_up)
        auth.start_session(response, session)
        return _session_view(auth, session)

    @router.post("/login", response_model=OwnerSessionView)
    async def login(body: LoginBody, request: Request, response: Response) -> OwnerSessionView:
        """Log in: the answer has a bearer token; the page also gets a session cookie."""
        if not auth.setup_done:
            raise ApiError(403, "the charger is not set up yet: use the setup code first")
        client, device = _client(request), auth.device(request)
        with _credential_errors():
            # Refused here, before the queue, while locked out: a locked-out flood
            # takes no place from the owner's check.
            auth.accounts.check_not_locked(body.username, client, device)
            session = await auth.passwords.run(
                auth.accounts.login, body.username, body.password, client, device
            )
        auth.start_session(response, session)
        return _session_view(auth, session)

    return router


def owner_router(auth: Auth, seclog: SecurityLog) -> APIRouter:
    """Routes of a logged-in owner: session, password, logout, security log."""
    router = APIRouter(prefix="/api/v1", tags=["owner account"])
    owner = Annotated[Caller, Depends(auth.require_owner)]

    @router.get("/session", response_model=OwnerSessionView)
    async def session(caller: owner) -> OwnerSessionView:
        """Who is logged in, and the CSRF token the page sends back."""
        return OwnerSessionView(username=caller.username, csrf_token=auth.csrf_token(caller))

    @router.post("/logout", status_code=204)
    async def logout(caller: owner, response: Response) -> Response:
        """End this session."""
        auth.accounts.logout(caller.token)
        auth.end_session(response)
        response.status_code = 204
        return response

    @router.post("/password", status_code=204)
    async def change_password(
        body: PasswordBody, caller: owner, request: Request, response: Response
    ) -> Response:
        """Change the password; every other session ends."""
        with _credential_errors():
            await auth.passwords.run(
                auth.accounts.change_password,
                caller.username,
                body.old_password,
                body.new_password,
                current_token=caller.token,
                client=_client(request),
                device=auth.device(request),
            )
        response.status_code = 204
        return response

    @router.get("/security-log", response_model=list[SecurityRecordView], tags=["security"])
    async def security_log(
        _: owner,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
    ) -> list[SecurityRecordView]:
        """The security log, newest first."""
        return [
            SecurityRecordView.model_validate(asdict(record))
            for record in seclog.records(limit, before_id)
        ]

    @router.get("/security-log/verify", response_model=ChainCheckView, tags=["security"])
    async def verify_security_log(_: owner) -> ChainCheckView:
        """Check the security log's hash chain; names the first broken record."""
        return ChainCheckView.model_validate(asdict(seclog.verify()))

    return router
