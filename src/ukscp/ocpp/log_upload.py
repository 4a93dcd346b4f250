"""Uploading a log file to where the CSMS asked (OCPP GetLog), over HTTP(S).

urllib in a worker thread keeps the event loop free and needs no extra
dependency. HTTPS certificates are checked (system CAs, plus the CSMS's CA
file when configured); plain HTTP only where plain ``ws://`` is allowed too.
No proxy is taken from the environment: only the CSMS says where data goes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ukscp.clock import Clock
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)


class UploadError(Exception):
    """The upload did not succeed; the message says why."""


def upload_scheme_problem(location: str, allow_plain_http: bool) -> str | None:
    """Why ``location`` cannot be uploaded to, or None if it can."""
    parts = urlsplit(location)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        return None if allow_plain_http else "plain http:// is not allowed (use https://)"
    return f"unsupported location {location!r} (only http(s) uploads are supported)"


def upload_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """System CAs, and ``ca_file`` if given; TLS 1.2 at least."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def target_url(location: str, filename: str) -> str:
    """A location ending in ``/`` names a directory: the file goes inside it."""
    return location + filename if location.endswith("/") else location


def _put(url: str, body: bytes, context: ssl.SSLContext | None, timeout_s: float) -> int:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    last_error: Exception | None = None
    # PUT is the natural verb for "store this file here"; some servers only take POST.
    for method in ("PUT", "POST"):
        request = urllib.request.Request(  # noqa: S310  (scheme checked by the caller)
            url,
            data=body,
            method=method,
            headers={"Content-Type": "application/x-ndjson"},
        )
        try:
            with opener.open(request, timeout=timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last_error = exc
            if exc.code not in (405, 501):
                break
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
            break
    raise UploadError(str(last_error))


async def upload(url: str, body: bytes, *, context: ssl.SSLContext | None, timeout_s: float) -> int:
    """Send ``body`` to ``url`` (PUT, falling back to POST); the HTTP status, or UploadError."""
    return await asyncio.to_thread(_put, url, body, context, timeout_s)


Notify = Callable[[str, int], Awaitable[None]]
"""Sends LogStatusNotification(status, request_id), best effort."""


@dataclass(frozen=True, slots=True)
class _Request:
    request_id: int
    url: str
    retries: int
    retry_interval_s: int


class LogUploads:
    """GetLog(SecurityLog): accept the request, then upload ``seclog.export_text()``.

    Progress goes to the CSMS as LogStatusNotification: Uploading, then
    Uploaded or UploadFailure (after ``retries`` more attempts,
    ``retry_interval`` seconds apart on the clock). A new request cancels a
    running upload (answered AcceptedCanceled).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        seclog: SecurityLog,
        identity: str,
        allow_plain_http: Callable[[], bool],
        ca_file: Callable[[], Path | None],
        notify: Notify,
        timeout_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._seclog = seclog
        self._identity = identity
        self._allow_plain_http = allow_plain_http
        self._ca_file = ca_file
        self._notify = notify
        self._timeout_s = timeout_s
        self._pending: _Request | None = None
        self._task: asyncio.Task[None] | None = None
        self._running_id: int | None = None

    def accept(
        self,
        log_type: str,
        request_id: int,
        location: str,
        retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]:
        """GetLog's answer: ``(status, filename)``; the upload starts with :meth:`start`."""
        if log_type != "SecurityLog":
            return "Rejected", None
        problem = upload_scheme_problem(location, self._allow_plain_http())
        if problem is not None:
            _log.warning("GetLog refused: %s", problem)
            return "Rejected", None
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S%z")
        filename = f"security-log-{self._identity}-{stamp}.jsonl"
        status = "Accepted"
        if self._task is not None and not self._task.done():
            self._task.cancel()
            status = "AcceptedCanceled"
        self._pending = _Request(
            request_id=request_id,
            url=target_url(location, filename),
            retries=max(0, retries or 0),
            retry_interval_s=max(0, retry_interval or 0),
        )
        return status, filename

    def start(self, request_id: int) -> asyncio.Task[None] | None:
        """Start the upload accepted for ``request_id`` (the answer has been sent)."""
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return None
        self._pending = None
        self._running_id = pending.request_id
        self._task = asyncio.get_running_loop().create_task(self._upload(pending))
        return self._task

    def current(self) -> tuple[str, int | None]:
        """The upload's status now, for a triggered LogStatusNotification: ``(status, requestId)``.

        Uploading (with the GetLog's requestId) while an upload runs; Idle, without
        a requestId, when none does (1.6 security whitepaper, 2.0.1 N01 and F06).
        """
        if self._task is not None and not self._task.done():
            return "Uploading", self._running_id
        return "Idle", None

    async def _upload(self, pending: _Request) -> None:
        await self._notify("Uploading", pending.request_id)
        body = self._seclog.export_text().encode("utf-8")
        https = pending.url.startswith("https:")
        context = upload_ssl_context(self._ca_file()) if https else None
        for attempt in range(pending.retries + 1):
            try:
                await upload(pending.url, body, context=context, timeout_s=self._timeout_s)
            except UploadError as exc:
                _log.warning("security log upload %d failed: %s", attempt + 1, exc)
                if attempt < pending.retries:
                    await self._clock.sleep(pending.retry_interval_s)
                continue
            await self._notify("Uploaded", pending.request_id)
            return
        await self._notify("UploadFailure", pending.request_id)
