"""Routes both OCPP versions carry alike, mixed into each version's router.

GetLog (OCPP 1.6 security whitepaper ed. 2; OCPP 2.0.1 N01), ClearCache (1.6
section 5.4; 2.0.1 C11) and DataTransfer (1.6 section 5.6; 2.0.1 P01) have the
same request and answer statuses in both versions, so one handler serves both;
each router gives the mixin its client (``_requests``) and its ``call_result``
builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ukscp.ocpp._lib import after, on


class LogRequests(Protocol):
    """What the client does for GetLog."""

    def get_log(
        self,
        log_type: str,
        request_id: int,
        remote_location: str,
        retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]:
        """GetLog: ``(status, filename)``."""
        ...

    def after_get_log(self, request_id: int) -> None:
        """Start the upload of an accepted GetLog."""
        ...


class SharedRequests(LogRequests, Protocol):
    """What the client does for the requests both versions share."""

    def clear_cache(self) -> str:
        """ClearCache: Accepted or Rejected."""
        ...

    def data_transfer(self, vendor_id: str) -> str:
        """DataTransfer: Accepted, Rejected, UnknownMessageId or UnknownVendorId."""
        ...


class SharedRoutes:
    """The handlers of requests that are the same in OCPP 1.6 and 2.0.1."""

    _requests: SharedRequests
    _result: Callable[..., Any]  # the version's call_result builder, as a staticmethod

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        return self._result("ClearCache", status=self._requests.clear_cache())

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self._result("DataTransfer", status=self._requests.data_transfer(vendor_id))

    @on("GetLog")
    def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        status, filename = self._requests.get_log(
            log_type, request_id, str(log.get("remote_location", "")), retries, retry_interval
        )
        return self._result("GetLog", status=status, filename=filename)

    @after("GetLog")
    def after_get_log(self, request_id: int, **_: Any) -> None:
        self._requests.after_get_log(request_id)
