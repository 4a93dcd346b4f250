"""Who is calling: the owner's session from a bearer token or the page's cookie.

Before the owner has set up the charger only the setup flow works; afterwards
every route but health, login and setup needs a session. A session carried by
the cookie (the page) must also send its CSRF token on every unsafe request;
a bearer token (a script) is not sent by browsers on their own, so it needs none.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response

from ukscp.security.credentials import DEVICE_MEMORY_S, OwnerAccounts, SessionToken
from ukscp.security.password_worker import PasswordWorker
from ukscp.web.errors import ApiError

SESSION_COOKIE = "ukscp_session"
# Marks a browser the owner has logged in from: failures from elsewhere never lock it out.
DEVICE_COOKIE = "ukscp_device"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated owner and how they proved it."""

    username: str
    token: str
    via_cookie: bool


class Auth:
    """Checks each request against the owner's accounts and sessions."""

    def __init__(
        self,
        accounts: OwnerAccounts,
        *,
        secure_cookies: bool,
        passwords: PasswordWorker | None = None,
    ) -> None:
        self._accounts = accounts
        self._secure_cookies = secure_cookies
        self._passwords = passwords or PasswordWorker()

    @property
    def accounts(self) -> OwnerAccounts:
        """The owner accounts behind this checker."""
        return self._accounts

    @property
    def passwords(self) -> PasswordWorker:
        """Where password checks run: off the event loop, bounded."""
        return self._passwords

    @staticmethod
    def device(request: Request) -> str | None:
        """The device token of the browser behind ``request``, if it sent one."""
        return request.cookies.get(DEVICE_COOKIE)

    @property
    def setup_done(self) -> bool:
        """Whether the owner has set up the charger."""
        return self._accounts.setup_done

    def caller(self, request: Request) -> Caller | None:
        """The owner behind ``request``, or None (no check of CSRF here)."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            username = self._accounts.authenticate(credentials.strip())
            return None if username is None else Caller(username, credentials.strip(), False)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            username = self._accounts.authenticate(cookie)
            return None if username is None else Caller(username, cookie, True)
        return None

    def csrf_token(self, caller: Caller) -> str:
        """The CSRF token of ``caller``'s session, for the page to send back."""
        return self._accounts.csrf_token(caller.token) or ""

    async def require_owner(self, request: Request) -> Caller:
        """FastAPI dependency: the authenticated owner, or a 403/401 in words."""
        if not self._accounts.setup_done:
            raise ApiError(
                403,
                "the charger is not set up yet: set the owner's password first "
                "(POST /api/v1/setup with the setup code printed on the console)",
            )
        caller = self.caller(request)
        if caller is None:
            raise ApiError(401, "log in first (POST /api/v1/login)")
        if caller.via_cookie and request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent:
                form = await request.form() if _is_form(request) else None
                value = form.get(CSRF_FORM_FIELD) if form is not None else None
                sent = value if isinstance(value, str) else ""
            if not self._accounts.check_csrf(caller.token, sent):
                raise ApiError(403, "missing or wrong CSRF token; reload the page and try again")
        return caller

    def start_session(self, response: Response, session: SessionToken) -> None:
        """Give the page its session cookie."""
        # A browser-session cookie: the server ends the session (idle or absolute expiry).
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            httponly=True,
            secure=self._secure_cookies,
            samesite="strict",
            path="/",
        )
        if session.device:
            response.set_cookie(
                DEVICE_COOKIE,
                session.device,
                max_age=int(DEVICE_MEMORY_S),
                httponly=True,
                secure=self._secure_cookies,
                samesite="strict",
                path="/api/v1",  # login and password change only need it
            )

    def end_session(self, response: Response) -> None:
        """Take the page's session cookie away."""
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, secure=self._secure_cookies, samesite="strict", path="/"
        )


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
