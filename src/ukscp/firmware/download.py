"""Downloading firmware from where the CSMS said, under the target policy.

The download runs on a worker thread (urllib), capped in size, with a socket
timeout, under the target policy of :mod:`~ukscp.security.remote_targets`; the
CSMS's ``retries`` and ``retryInterval`` are clamped there too. A refused
target is final: no further attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import ssl
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from ukscp.clock import Clock
from ukscp.firmware.request import FirmwareRequest
from ukscp.security.remote_targets import TargetPolicy, TargetRefused, Transfer, retry_plan

_log = logging.getLogger(__name__)

_CHUNK = 1 << 16


class DownloadError(Exception):
    """The download did not succeed; the message says why."""


def wheel_name(location: str) -> str:
    """The file name the location ends in (query and fragment ignored)."""
    return PurePosixPath(unquote(urlsplit(location).path)).name


def fetch(
    transfer: Transfer, url: str, dest: Path, max_bytes: int, timeout_s: float
) -> tuple[bytes, int]:
    """Download ``url`` into ``dest``; its SHA-256 digest and size, or DownloadError."""
    request = urllib.request.Request(url, headers={"Accept": "*/*"})  # noqa: S310  (checked)
    sha = hashlib.sha256()
    total = 0
    try:
        with transfer.open(request, timeout_s) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"the file is {length} bytes, over the {max_bytes} allowed")
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise DownloadError(f"the file is over the {max_bytes} bytes allowed")
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(str(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise DownloadError(str(exc) or type(exc).__name__) from None
    if total == 0:
        raise DownloadError("the file is empty")
    return sha.digest(), total


async def download(
    request: FirmwareRequest,
    dest: Path,
    *,
    targets: TargetPolicy,
    clock: Clock,
    max_bytes: int,
    timeout_s: float,
) -> tuple[bytes, int] | DownloadError:
    """Download ``request``'s file into ``dest``, retrying as allowed: (digest, size) or why not.

    Every wait is on ``clock``; a failed download leaves no ``dest`` behind.
    """
    plan = retry_plan(request.retries, request.retry_interval_s)
    if plan.clamped:
        _log.info(
            "firmware request %d: %d retries %d s apart (asked: %s retries, %s s apart)",
            request.request_id, plan.retries, plan.interval_s,
            request.retries, request.retry_interval_s,
        )
    failure = DownloadError("not attempted")
    attempts = plan.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            transfer = Transfer(targets)
        except (OSError, ssl.SSLError) as exc:
            failure = DownloadError(f"the CA file cannot be used: {exc}")
            break
        once = partial(fetch, transfer, request.location, dest, max_bytes, timeout_s)
        try:
            return await transfer.run(once)
        except TargetRefused as exc:
            failure = DownloadError(f"refused: {exc}")  # final: logged once, with the status
            break
        except DownloadError as exc:
            failure = exc
            # The last failure is worth a warning (with the status); the others are expected.
            if attempt < attempts:
                _log.info("firmware download attempt %d of %d failed: %s",
                          attempt, attempts, exc)
        if attempt < attempts:
            await clock.sleep(plan.interval_s)
    with contextlib.suppress(OSError):
        await asyncio.to_thread(dest.unlink)
    return failure
