"""Regular, secure checks for new software (Schedule 1: securely updatable software).

The charger asks a TUF repository (The Update Framework, ``tuf`` package) whether
a newer release exists. TUF is what makes the answer trustworthy: every piece
of metadata is signed, expires, and never goes back in version, so a mirror or
a network attacker can neither forge a release, nor replay an old one, nor hide
a new one for longer than the timestamp's lifetime.

Repository layout and release convention (what the release process publishes):

* ``<tuf_repository_url>/metadata/`` holds the TUF metadata (``root.json``,
  ``N.root.json``, ``timestamp.json``, ``snapshot.json``, ``targets.json``;
  versioned names too if the root sets ``consistent_snapshot``).
* ``<tuf_repository_url>/targets/`` holds the target files.
* The target ``ukscp/latest.json`` names the current release::

      {"version": "0.2.0"}

  and the release archive itself is the target ``ukscp/ukscp-<version>.tar.gz``.
  The check downloads only the small index (verified against its signed length
  and hashes) and requires the archive to be listed in the signed targets
  metadata, so an announced release is always one the installer can fetch
  through TUF. A check never downloads the archive itself.

Trust anchor: the root metadata pinned at provisioning (``trusted_root_file``).
Every check starts from that file, and the client verifies each newer root it
has seen (kept in ``metadata_dir/root_history``, with ``metadata_dir/root.json``
linking to the newest) as signed by its predecessor. Starting from the pinned
file rather than from the cached ``root.json`` means a root.json replaced in
the writable data directory cannot move the anchor.

Versions are compared with :mod:`packaging.version` (PEP 440) when it is
installed; otherwise only plain numeric versions (``1.2.3``) are understood.
A release older than or equal to the running one is never offered: that is the
rollback refusal of the design, over and above TUF's refusal of old metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import urllib3.exceptions
from tuf.api import exceptions as tuf_errors
from tuf.api.serialization import DeserializationError
from tuf.ngclient.updater import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from ukscp.clock import Alarm, Clock
from ukscp.security.seclog import SecurityEventType, SecurityLog

try:
    from packaging.version import InvalidVersion as _InvalidVersion
    from packaging.version import Version as _Version

    _HAVE_PACKAGING = True
except ImportError:  # pragma: no cover - packaging comes with most environments
    _HAVE_PACKAGING = False

_log = logging.getLogger(__name__)

RELEASE_INDEX_TARGET = "ukscp/latest.json"
ARCHIVE_TARGET_TEMPLATE = "ukscp/ukscp-{version}.tar.gz"
# The index is a few bytes; refusing a big one before download bounds what a
# (signed but mistaken or compromised) targets role can make the charger fetch.
MAX_INDEX_BYTES = 64 * 1024
DEFAULT_SOCKET_TIMEOUT_S = 10
_MAX_DETAIL_CHARS = 400

Outcome = Literal["up_to_date", "update_available", "could_not_check", "rejected"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    """The result of one check, in words a person can read."""

    checked_at: datetime
    outcome: Outcome
    current_version: str
    # Only ever set for "update_available": an older or equal release is not offered.
    available_version: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The status as plain JSON-able data (``checked_at`` in ISO 8601)."""
        return {
            "checked_at": self.checked_at.isoformat(),
            "outcome": self.outcome,
            "current_version": self.current_version,
            "available_version": self.available_version,
            "detail": self.detail,
        }


# -- versions -----------------------------------------------------------------

_NUMERIC = re.compile(r"\d+(?:\.\d+)*")


def _numeric_key(text: str) -> tuple[int, ...]:
    """``1.2.0`` -> (1, 2): trailing zeros dropped so 1.2 == 1.2.0."""
    if _NUMERIC.fullmatch(text) is None:
        raise ValueError(f"not a numeric version: {text!r}")
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def numeric_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b`` (digits and dots only).

    ValueError for anything else: without :mod:`packaging` a pre-release or
    local version cannot be ordered safely, so it is refused rather than guessed.
    """
    ka, kb = _numeric_key(a), _numeric_key(b)
    return (ka > kb) - (ka < kb)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``.

    PEP 440 ordering when :mod:`packaging` is installed, else :func:`numeric_compare`.
    ValueError when either is not a valid version.
    """
    if _HAVE_PACKAGING:
        try:
            va, vb = _Version(a), _Version(b)
        except _InvalidVersion as exc:
            raise ValueError(str(exc)) from None
        return (va > vb) - (va < vb)
    return numeric_compare(a, b)


# -- the checker --------------------------------------------------------------


class _CouldNotCheck(Exception):
    """Nothing refused, but no answer: the repository or the pinned root is unusable."""


class _Refused(Exception):
    """What the repository offered failed a check of ours after TUF verified it."""


def _short(exc: BaseException) -> str:
    """An exception as one bounded line for a status or a log record."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # the wrapper's text repeats the URL and the pool
    text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 1] + "…"
    return text


# A download longer than its signed length is a DownloadError to the TUF
# client, but it is the same attack as a hash mismatch, not a network fault.
_TAMPERED = (tuf_errors.LengthOrHashMismatchError, tuf_errors.DownloadLengthMismatchError)


def _security_reason(exc: Exception) -> str:
    """Words for a TUF verification failure, naming the kind of attack it stops."""
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return "metadata not signed by the trusted keys (bad signature)"
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return "metadata expired (possible freeze attack)"
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return "metadata version older than one already trusted (rollback attack)"
    if isinstance(exc, _TAMPERED):
        return "file does not match its signed length or hashes (tampered)"
    if isinstance(exc, DeserializationError):
        return "metadata malformed"
    return "metadata refused"


class UpdateChecker:
    """Asks the TUF repository whether newer software exists; never installs anything.

    :meth:`check_now` blocks on the network (use it from scripts and tests);
    :meth:`check` runs the network part on a worker thread so the charger's
    event loop keeps controlling the EVSE meanwhile; :meth:`run` checks at
    start and every ``interval_h`` hours. Checks are serialised: the TUF client
    does not support two updaters on one metadata directory at once.
    """

    def __init__(
        self,
        clock: Clock,
        seclog: SecurityLog,
        repository_url: str,
        trusted_root: Path,
        metadata_dir: Path,
        current_version: str,
        socket_timeout_s: int = DEFAULT_SOCKET_TIMEOUT_S,
    ) -> None:
        compare_versions(current_version, current_version)  # ValueError if not a version
        if not repository_url.startswith(("https://", "http://")):
            raise ValueError(f"tuf_repository_url must be an http(s) URL, not {repository_url!r}")
        self._clock = clock
        self._seclog = seclog
        self._url = repository_url.rstrip("/")
        self._trusted_root = trusted_root
        self._metadata_dir = metadata_dir
        self._current = current_version
        self._socket_timeout_s = socket_timeout_s
        self._alarm = Alarm(clock)
        self._lock = threading.Lock()
        self._last: UpdateStatus | None = None
        # A refused rollback is logged once per offered version, not once a day.
        self._rollback_logged: str | None = None

    @property
    def repository_url(self) -> str:
        """The repository checked (without a trailing slash)."""
        return self._url

    @property
    def current_version(self) -> str:
        """The version of the running software."""
        return self._current

    @property
    def last(self) -> UpdateStatus | None:
        """The latest check, or None before the first."""
        return self._last

    def check_now(self) -> UpdateStatus:
        """Check now, blocking until the repository answered or failed."""
        checked_at = self._clock.now()
        return self._conclude(checked_at, self._attempt(self._fetch_announced_version))

    async def check(self) -> UpdateStatus:
        """Check now, with the network part on a worker thread."""
        checked_at = self._clock.now()
        result = await _in_daemon_thread(lambda: self._attempt(self._fetch_announced_version))
        return self._conclude(checked_at, result)

    def check_soon(self) -> None:
        """Make :meth:`run` check at once instead of at the end of its interval."""
        self._alarm.wake()

    async def run(self, interval_h: float) -> None:
        """Check at start and every ``interval_h`` hours on the clock."""
        while True:
            await self.check()
            await self._alarm.sleep(interval_h * 3600)

    # -- the blocking part, on whatever thread calls it --

    def _attempt(self, fetch: Callable[[], str]) -> str | BaseException:
        """The announced version, or the exception that stopped the check.

        Returned rather than raised so the worker thread hands every failure
        back to the event loop, where it is classified and recorded.
        """
        with self._lock:
            try:
                return fetch()
            except Exception as exc:
                return exc

    def _fetch_announced_version(self) -> str:
        """Refresh the TUF metadata and read the announced release's version."""
        try:
            pinned = self._trusted_root.read_bytes()
        except OSError as exc:
            raise _CouldNotCheck(f"cannot read the pinned TUF root: {_short(exc)}") from exc
        self._metadata_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            updater = Updater(
                metadata_dir=str(self._metadata_dir),
                metadata_base_url=f"{self._url}/metadata/",
                target_base_url=f"{self._url}/targets/",
                fetcher=Urllib3Fetcher(
                    socket_timeout=self._socket_timeout_s,
                    app_user_agent=f"ukscp/{self._current}",
                ),
                bootstrap=pinned,
            )
        except tuf_errors.RepositoryError as exc:
            # A provisioning fault on this charger, not something the
            # repository offered: nothing to reject, but nothing to trust.
            raise _CouldNotCheck(
                f"the pinned TUF root {self._trusted_root} is not valid: {_short(exc)}"
            ) from exc
        updater.refresh()
        index = updater.get_targetinfo(RELEASE_INDEX_TARGET)
        if index is None:
            raise _CouldNotCheck(f"the repository publishes no {RELEASE_INDEX_TARGET}")
        if index.length > MAX_INDEX_BYTES:
            raise _Refused(
                f"{RELEASE_INDEX_TARGET} is {index.length} bytes, over the {MAX_INDEX_BYTES}"
                " allowed"
            )
        with tempfile.TemporaryDirectory(prefix="ukscp-update-") as tmp:
            path = updater.download_target(index, filepath=str(Path(tmp) / "latest.json"))
            raw = Path(path).read_bytes()
        version = _announced_version(raw)
        archive = ARCHIVE_TARGET_TEMPLATE.format(version=version)
        if updater.get_targetinfo(archive) is None:
            raise _Refused(f"release {version} is announced but {archive} is not a signed target")
        return version

    # -- the concluding part, on the caller's thread --

    def _conclude(self, checked_at: datetime, result: str | BaseException) -> UpdateStatus:
        """Turn a version or a failure into a status; log and record it."""
        if isinstance(result, str):
            status = self._compare(checked_at, result)
        else:
            status = self._failure(checked_at, result)
        self._last = status
        return status

    def _status(
        self, checked_at: datetime, outcome: Outcome, detail: str, available: str | None = None
    ) -> UpdateStatus:
        return UpdateStatus(checked_at, outcome, self._current, available, detail)

    def _compare(self, checked_at: datetime, announced: str) -> UpdateStatus:
        order = compare_versions(announced, self._current)
        if order > 0:
            _log.info("software update available: %s (running %s)", announced, self._current)
            self._rollback_logged = None
            return self._status(
                checked_at,
                "update_available",
                f"version {announced} is available (running {self._current})",
                announced,
            )
        if order == 0:
            self._rollback_logged = None
            return self._status(
                checked_at, "up_to_date", f"running {self._current}, the latest release"
            )
        detail = (
            f"the repository's latest release {announced} is older than the running"
            f" {self._current}: rollback refused, nothing offered"
        )
        _log.warning("update check: %s", detail)
        if self._rollback_logged != announced:
            self._seclog.record(SecurityEventType.UPDATE_REJECTED, f"{self._url}: {detail}")
            self._rollback_logged = announced
        return self._status(checked_at, "up_to_date", detail)

    def _failure(self, checked_at: datetime, exc: BaseException) -> UpdateStatus:
        if isinstance(exc, _Refused):
            return self._reject(checked_at, f"release refused: {exc}")
        if isinstance(exc, tuf_errors.RepositoryError | tuf_errors.DownloadLengthMismatchError):
            return self._reject(checked_at, f"{_security_reason(exc)}: {_short(exc)}")
        if isinstance(exc, _CouldNotCheck):
            detail = str(exc)
            _log.error("update check: %s", detail)
        elif isinstance(exc, tuf_errors.DownloadError | urllib3.exceptions.HTTPError | OSError):
            detail = f"could not reach the update repository {self._url}: {_short(exc)}"
            _log.warning("update check: %s", detail)
        else:
            # Never a crash of the charger over an update check: log it loudly.
            detail = f"update check failed unexpectedly: {type(exc).__name__}: {_short(exc)}"
            _log.error("update check: %s", detail, exc_info=exc)
        return self._status(checked_at, "could_not_check", detail)

    def _reject(self, checked_at: datetime, detail: str) -> UpdateStatus:
        _log.error("update check: %s", detail)
        self._seclog.record(SecurityEventType.UPDATE_REJECTED, f"{self._url}: {detail}")
        return self._status(checked_at, "rejected", detail)


def _announced_version(raw: bytes) -> str:
    """The version in ``ukscp/latest.json``; _Refused when it is not one."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(f"{RELEASE_INDEX_TARGET} is not JSON: {_short(exc)}") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str):
        raise _Refused(f'{RELEASE_INDEX_TARGET} has no "version" string')
    try:
        compare_versions(version, version)
    except ValueError:
        raise _Refused(f"{RELEASE_INDEX_TARGET} names an invalid version {version!r}") from None
    return version


async def _in_daemon_thread(work: Callable[[], _T]) -> _T:
    """Run blocking ``work`` on a daemon thread and await its result.

    Not :func:`asyncio.to_thread`: the loop's executor is joined at shutdown,
    so a check stuck on network timeouts would hold up a SIGTERM stop. A
    daemon thread is simply abandoned (the TUF client writes metadata by
    atomic rename, so stopping mid-write leaves at most a stray temp file).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def deliver(value: _T) -> None:
        if not future.done():  # the awaiting task may have been cancelled
            future.set_result(value)

    def target() -> None:
        value = work()
        # RuntimeError: the loop has closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=target, name="ukscp-update-check", daemon=True).start()
    return await future
