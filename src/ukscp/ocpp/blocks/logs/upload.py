"""Uploading the security log to where the CSMS asked (OCPP GetLog), over HTTP(S).

GetLog is the same in OCPP 1.6 (security whitepaper ed. 2) and 2.0.1 (N01).
The target and the retries are bounded by :mod:`ukscp.security.remote_targets`:
``https://`` (plain ``http://`` only where plain ``ws://`` is allowed too), no
loopback, link-local or private address unless ``ocpp.allow_private_targets``,
at most 5 retries at least 30 s apart. One upload at a time: a new GetLog
cancels the one running (answered ``AcceptedCanceled``, as both versions say),
and an upload stops at once when its client stops (the back end replaced, the
charger stopping).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from ukscp.clock import Clock
from ukscp.security.remote_targets import (
    RetryPlan,
    TargetPolicy,
    TargetRefused,
    Transfer,
    retry_plan,
)
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)


class UploadError(Exception):
    """One attempt failed (worth another); the message says why."""


def target_url(location: str, filename: str) -> str:
    """A location ending in ``/`` names a directory: the file goes inside it."""
    return location + filename if location.endswith("/") else location


def _put(transfer: Transfer, url: str, body: bytes, timeout_s: float) -> int:
    last_error: Exception | None = None
    # PUT is the natural verb for "store this file here"; some servers only take POST.
    for method in ("PUT", "POST"):
        request = urllib.request.Request(  # noqa: S310  (scheme checked by the policy)
            url,
            data=body,
            method=method,
            headers={"Content-Type": "application/x-ndjson"},
        )
        try:
            with transfer.open(request, timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last_error = exc
            if exc.code not in (405, 501):
                break
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
            break
    raise UploadError(str(last_error))


Notify = Callable[[str, int], Awaitable[None]]
"""Sends LogStatusNotification(status, request_id), best effort."""


@dataclass(frozen=True, slots=True)
class _Request:
    request_id: int
    url: str
    plan: RetryPlan


class LogUploads:
    """GetLog(SecurityLog): accept the request, then upload ``seclog.export_text()``.

    Progress goes to the CSMS as LogStatusNotification: Uploading, then
    Uploaded or UploadFailure (after the retries the plan allows, on the clock).
    ``policy`` gives the current target policy (the transport's settings may
    change between requests).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        seclog: SecurityLog,
        identity: str,
        policy: Callable[[], TargetPolicy],
        notify: Notify,
        timeout_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._seclog = seclog
        self._identity = identity
        self._policy = policy
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
        problem = self._policy().location_problem(location)
        if problem is not None:
            _log.warning("GetLog %d refused: %s", request_id, problem)
            return "Rejected", None
        plan = retry_plan(retries, retry_interval)
        if plan.clamped:
            _log.info(
                "GetLog %d: %d retries %d s apart (asked: %s retries, %s s apart)",
                request_id,
                plan.retries,
                plan.interval_s,
                retries,
                retry_interval,
            )
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S%z")
        filename = f"security-log-{self._identity}-{stamp}.jsonl"
        status = "Accepted"
        if self._task is not None and not self._task.done():
            self._task.cancel()
            status = "AcceptedCanceled"
        self._pending = _Request(request_id, target_url(location, filename), plan)
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
        attempts = pending.plan.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                transfer = Transfer(self._policy())
            except (OSError, ssl.SSLError) as exc:
                _log.error(
                    "security log upload %d: the CA file cannot be used: %s",
                    pending.request_id,
                    exc,
                )
                break
            try:
                await transfer.run(partial(_put, transfer, pending.url, body, self._timeout_s))
            except TargetRefused as exc:
                _log.warning("security log upload %d refused: %s", pending.request_id, exc)
                break
            except UploadError as exc:
                # The last failure is the one worth a warning; the others are expected.
                level = logging.WARNING if attempt == attempts else logging.INFO
                _log.log(
                    level,
                    "security log upload %d, attempt %d of %d failed: %s",
                    pending.request_id,
                    attempt,
                    attempts,
                    exc,
                )
                if attempt < attempts:
                    await self._clock.sleep(pending.plan.interval_s)
                continue
            await self._notify("Uploaded", pending.request_id)
            return
        await self._notify("UploadFailure", pending.request_id)
