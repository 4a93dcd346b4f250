"""Checking the software at start and every few hours, and acting on a failure."""

from __future__ import annotations

import logging
from pathlib import Path

from ukscp.clock import Clock
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.security.integrity import IntegrityReport, check, package_root, release_manifest
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

SLOT = "integrity"


class IntegrityMonitor:
    """Runs :func:`~ukscp.security.integrity.check`; a failure logs, alerts and restricts.

    A failed check writes ``IntegrityCheckFailed`` (critical: it goes to the CSMS)
    naming the files, and holds charging at the configured safe-mode current with
    source ``safety`` until a later check finds the software intact again.
    """

    def __init__(
        self,
        clock: Clock,
        arbiter: Arbiter,
        seclog: SecurityLog,
        manifest: Path | None,
        public_key: Path | None,
        safe_mode_a: float,
        root: Path | None = None,
    ) -> None:
        self._clock = clock
        self._arbiter = arbiter
        self._seclog = seclog
        self._root = root or package_root()
        # Firmware from the CSMS brings its own signed manifest; the configured one
        # describes the software installed at the factory.
        self._manifest = release_manifest(self._root, manifest)
        self._public_key = public_key
        self._safe_mode_a = safe_mode_a
        self._last: IntegrityReport | None = None

    @property
    def configured(self) -> bool:
        """Whether a manifest and a trusted key were provisioned."""
        return self._manifest is not None and self._public_key is not None

    @property
    def last(self) -> IntegrityReport | None:
        """The latest check, or None before the first."""
        return self._last

    def check_now(self) -> IntegrityReport | None:
        """Check the software now; None when no manifest was provisioned."""
        if self._manifest is None or self._public_key is None:
            return None
        report = check(self._root, self._manifest, self._public_key, self._clock.now())
        was_ok = self._last is None or self._last.ok
        self._last = report
        if not report.ok:
            _log.error("%s", report.summary())
            if was_ok:
                self._seclog.record(SecurityEventType.INTEGRITY_CHECK_FAILED, report.summary())
            limit = Limit(self._safe_mode_a, LimitSource.SAFETY, "software integrity check failed")
            self._arbiter.set(SLOT, limit)
        elif SLOT in self._arbiter.active():
            self._arbiter.clear(SLOT)
        return report

    async def run(self, interval_h: float) -> None:
        """Check at start and every ``interval_h`` hours."""
        while True:
            self.check_now()
            await self._clock.sleep(interval_h * 3600)
