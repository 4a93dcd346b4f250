"""One error shape for the whole API: ``{"error": "...", "detail": ...}``, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the charger refuses, with a status code and a reason in words."""

    def __init__(self, status_code: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.detail = detail


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        location = [str(part) for part in err.get("loc", ()) if part != "body"]
        problems.append({"field": ".".join(location) or "body", "message": str(err.get("msg"))})
    return problems


def http_error(exc: StarletteHTTPException) -> JSONResponse:
    """The JSON answer to an HTTP error raised by the framework (unknown path, method)."""
    return JSONResponse(
        {"error": str(exc.detail), "detail": None},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON body with a message in words."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "detail": exc.detail}, status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "detail": _field_errors(exc)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal error; the charger logged the cause", "detail": None},
            status_code=500,
        )
