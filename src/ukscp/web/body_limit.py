"""A cap on request bodies, enforced while they are read.

Starlette and FastAPI read a whole body into memory before validating it, so a
password field of 250 MB was held in full (four at once took the charger from
195 MB to 1.8 GB). Here a declared Content-Length over the cap is refused before
anything is read, and a body without one (chunked) is cut off as soon as it
passes the cap. Both answers close the connection: the rest is never read.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLOSE = {"Connection": "close"}


def too_large(max_bytes: int) -> str:
    """The refusal, in words."""
    return f"the request body is larger than the {max_bytes} bytes this charger accepts"


class BodyLimit:
    """ASGI middleware: no request body larger than ``max_bytes`` reaches the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an oversized declared body at once; count an undeclared one as it comes."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        # h11 has already refused a Content-Length that is not a whole number.
        if declared is not None and int(declared) > self._max_bytes:
            refusal = JSONResponse(
                {"error": too_large(self._max_bytes), "detail": None},
                status_code=413,
                headers=_CLOSE,
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    # Re-raised by FastAPI's body reading; its handler answers in the API's shape.
                    raise HTTPException(413, too_large(self._max_bytes), headers=_CLOSE)
            return message

        await self._app(scope, counted, send)
