"""The owner's local web page: server-rendered HTML that talks to the JSON API.

Each page is a Jinja2 template (autoescaped) plus ``static/app.js``, which reads
data and performs actions through ``/api/v1`` with ``fetch``. The server only
decides which page the owner may see now, and hands the page its CSRF token:

* not set up yet: every page leads to ``/setup`` (no default password, Sch 1);
* no session: every page leads to ``/login``;
* the first-use choice of charging hours pending (regulation 10): every page
  but setup, login and first use leads to ``/first-use``, so it cannot be skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

import ukscp
from ukscp.web.auth import Auth, Caller
from ukscp.web.errors import ApiError, http_error

if TYPE_CHECKING:
    from ukscp.web.api import ChargerService

TEMPLATES_DIR: Final = Path(__file__).with_name("templates")
STATIC_DIR: Final = Path(__file__).with_name("static")

# Pages and their titles; also the only places a login may send the owner back to,
# so a crafted ``next`` cannot redirect off the charger.
OWNER_PAGES: Final[dict[str, str]] = {
    "/": "Dashboard",
    "/schedule": "Charging hours",
    "/history": "History",
    "/sessions": "Sessions",
    "/settings": "Settings",
    "/security-log": "Security log",
}

# Scripts and styles come from our own files only, so an injected tag cannot run;
# nothing on the page needs inline script, inline style attributes or eval.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The page carries the CSRF token: no copy of it may be kept by a cache.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def templates() -> Environment:
    """The Jinja2 environment of the page; every template autoescapes."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _redirect(path: str) -> RedirectResponse:
    # 303: the browser fetches the target with GET, also after the logout POST.
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def _login_path(next_path: str) -> str:
    return "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='/')}"


class _Pages:
    """Renders the pages and decides where an owner who may not see one goes instead."""

    def __init__(self, charger: ChargerService, auth: Auth) -> None:
        self._charger = charger
        self._auth = auth
        self._env = templates()

    def render(
        self,
        name: str,
        page: str,
        title: str,
        caller: Caller | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """One page, with the CSRF token of ``caller``'s session in its head."""
        html = self._env.get_template(name).render(
            page=page,
            title=title,
            nav=OWNER_PAGES,
            username=caller.username if caller else None,
            csrf_token=self._auth.csrf_token(caller) if caller else "",
            version=ukscp.__version__,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)

    def _first_use_pending(self) -> bool:
        return self._charger.schedule().first_use_pending

    def owner_page(self, request: Request, path: str, template: str) -> Response:
        """A page of a logged-in owner who has made the first-use choice."""
        if not self._auth.setup_done:
            return _redirect("/setup")
        caller = self._auth.caller(request)
        if caller is None:
            return _redirect(_login_path(path))
        if self._first_use_pending():
            return _redirect("/first-use")
        return self.render(
            template,
            page=template.removesuffix(".html"),
            title=OWNER_PAGES[path],
            caller=caller,
            show_nav=True,
            current=path,
            sim=self._charger.sim is not None,
            alarms=self._alarms(),
        )

    def _alarms(self) -> list[str]:
        """What stops or holds charging and needs the owner: ``tamper``, ``integrity``.

        The dashboard shows them live from the API; every other page names them
        once, as it is rendered, and leads to the dashboard.
        """
        alarms = []
        if self._charger.status().tamper_alarm_since is not None:
            alarms.append("tamper")
        last = self._charger.integrity().last_check
        if last is not None and not last.ok:
            alarms.append("integrity")
        return alarms

    def setup(self, request: Request) -> Response:
        """The first start: the setup code and the owner's password."""
        if self._auth.setup_done:
            return _redirect("/" if self._auth.caller(request) else "/login")
        return self.render("setup.html", page="setup", title="Set up your charger")

    def login(
        self, request: Request, next_path: str | None, logged_out: bool, erased: bool
    ) -> Response:
        """The login form; ``next_path`` is honoured only if it names one of our pages.

        ``erased``: the owner has just deleted their personal data, which ended every session.
        """
        if not self._auth.setup_done:
            return _redirect("/setup")
        target = next_path if next_path in OWNER_PAGES else "/"
        if self._auth.caller(request) is not None:
            return _redirect(target)
        return self.render(
            "login.html",
            page="login",
            title="Log in",
            next_path=target,
            logged_out=logged_out,
            erased=erased,
        )

    def first_use(self, request: Request) -> Response:
        """Regulation 10: the owner accepts, removes or changes the default hours."""
        if not self._auth.setup_done:
            return _redirect("/setup")
        caller = self._auth.caller(request)
        if caller is None:
            return _redirect(_login_path("/first-use"))
        if not self._first_use_pending():
            return _redirect("/")
        return self.render(
            "first_use.html", page="first_use", title="Choose your charging hours", caller=caller
        )

    async def logout(self, request: Request) -> Response:
        """End the session from the page's form (CSRF token in the form), then log in again."""
        if self._auth.caller(request) is None:
            return _redirect("/login")
        try:
            caller = await self._auth.require_owner(request)
        except ApiError as exc:
            # A missing or wrong CSRF token: say so, never end the session silently.
            return self.render(
                "error.html",
                page="error",
                title="Not logged out",
                status_code=exc.status_code,
                message=exc.error,
            )
        self._auth.accounts.logout(caller.token)
        response = _redirect("/login?logged_out=1")
        self._auth.end_session(response)
        return response


def _wants_page(request: Request) -> bool:
    """Whether the client is a browser asking for a page: HTML accepted, not an API path."""
    path = request.url.path
    if path == "/api" or path.startswith("/api/") or path == "/openapi.json":
        return False
    return "text/html" in request.headers.get("accept", "").lower()


def not_found_handler(
    charger: ChargerService, auth: Auth
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The answer to a path nothing serves: the page's own not-found page to a browser,
    the API's JSON error to everyone else (the API keeps its error shape)."""
    pages = _Pages(charger, auth)

    async def not_found(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # status handlers get only these
            raise exc
        if _wants_page(request):
            return pages.render(
                "not_found.html", page="not_found", title="Page not found", status_code=404
            )
        return http_error(exc)

    return not_found


def pages_router(charger: ChargerService, auth: Auth) -> APIRouter:
    """The owner's pages (HTML, no ``/api`` prefix, left out of the OpenAPI document)."""
    pages = _Pages(charger, auth)
    router = APIRouter(include_in_schema=False)

    @router.get("/setup", response_class=HTMLResponse)
    async def setup_page(request: Request) -> Response:
        return pages.setup(request)

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(
        request: Request,
        next_path: Annotated[str | None, Query(alias="next")] = None,
        logged_out: bool = False,
        erased: bool = False,
    ) -> Response:
        return pages.login(request, next_path, logged_out, erased)

    @router.get("/first-use", response_class=HTMLResponse)
    async def first_use_page(request: Request) -> Response:
        return pages.first_use(request)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        return await pages.logout(request)

    def owner_page(path: str) -> None:
        # "/" is the dashboard; "/security-log" is rendered from security_log.html.
        name = path.strip("/").replace("-", "_") or "dashboard"

        async def page(request: Request) -> Response:
            return pages.owner_page(request, path, f"{name}.html")

        page.__name__ = f"{name}_page"
        router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)

    for path in OWNER_PAGES:
        owner_page(path)

    return router
