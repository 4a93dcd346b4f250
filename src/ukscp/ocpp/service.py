"""The charger's link to its back end, which the owner can re-point while it runs.

:class:`OcppService` owns the OCPP client of the back end in force and replaces
it when the owner picks another (regulation 6): the old client is stopped, made
to forget what belonged to its back end (undelivered messages, the open
transaction, charging profiles, a raised security profile), and a client for
the new back end is built by the composition root's factory. Charging goes on
throughout; every other setting of the charger stays as it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ukscp.config import OcppSettings
from ukscp.ocpp.backend import (
    BACKEND_KEY,
    BackendChoice,
    BackendError,
    effective_settings,
    resolve,
    store_secrets,
    stored_form,
)
from ukscp.ocpp.port import KeyValueStore
from ukscp.ocpp.transport import ConnectFailed, read_authorization_key
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)


class OcppClient(Protocol):
    """What the service needs of an OCPP client, whatever its version."""

    @property
    def online(self) -> bool:
        """Connected and registered with the back end."""
        ...

    async def run(self) -> None:
        """Connect and serve until :meth:`stop`."""
        ...

    def stop(self) -> None:
        """Make :meth:`run` return."""
        ...

    def close(self) -> None:
        """Release the client's resources (after :meth:`run` returned)."""
        ...

    def forget_backend(self) -> int:
        """Drop what belongs to the back end; returns how many queued messages went."""
        ...


ClientFactory = Callable[[OcppSettings], OcppClient]
"""Builds the client for the given ``ocpp`` settings (raises if they cannot work)."""


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """The back end in force, as the owner's page shows it (never the key itself)."""

    enabled: bool
    version: str
    url: str
    identity: str
    security_profile: int
    ca_file: str | None
    authorization_key_set: bool
    chosen_by: Literal["config file", "owner"]
    online: bool


class OcppService:
    """Runs the OCPP client of the back end in force and swaps it on the owner's say."""

    def __init__(
        self,
        *,
        file_settings: OcppSettings,
        store: KeyValueStore,
        data_dir: Path,
        factory: ClientFactory,
        seclog: SecurityLog,
    ) -> None:
        self._file = file_settings
        self._store = store
        self._data_dir = data_dir
        self._factory = factory
        self._seclog = seclog
        self._settings = effective_settings(file_settings, store.get(BACKEND_KEY))
        self._client: OcppClient | None = None
        if self._settings.enabled:
            self._client = factory(self._settings)
        self._stopped = False
        self._swapped = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._changing = asyncio.Lock()

    @property
    def client(self) -> OcppClient | None:
        """The client of the back end in force (None: no back end)."""
        return self._client

    def status(self) -> BackendStatus:
        """The back end in force."""
        settings = self._settings
        try:
            read_authorization_key(settings.authorization_key_file)
            key_set = True
        except ConnectFailed:
            key_set = False
        return BackendStatus(
            enabled=settings.enabled,
            version=settings.version,
            url=settings.url,
            identity=settings.identity,
            security_profile=settings.security_profile,
            ca_file=None if settings.ca_file is None else str(settings.ca_file),
            authorization_key_set=key_set,
            chosen_by="owner" if self._store.get(BACKEND_KEY) else "config file",
            online=self._client is not None and self._client.online,
        )

    async def run(self) -> None:
        """Run the client in force, and each one that replaces it, until :meth:`stop`."""
        while not self._stopped:
            client = self._client
            if client is not None:
                self._idle.clear()
                try:
                    await client.run()
                finally:
                    self._idle.set()
            if self._stopped:
                break
            if self._client is client:  # not replaced yet: wait for the owner's next choice
                await self._swapped.wait()
            self._swapped.clear()

    def stop(self) -> None:
        """End :meth:`run` (the charger is stopping)."""
        self._stopped = True
        if self._client is not None:
            self._client.stop()
        self._swapped.set()

    def close(self) -> None:
        """Close the client in force (after :meth:`run` returned)."""
        if self._client is not None:
            self._client.close()

    async def choose(self, choice: BackendChoice) -> BackendStatus:
        """Point the charger at the back end of ``choice``; BackendError if it cannot work."""
        async with self._changing:
            settings = resolve(choice, self._settings, self._data_dir)
            await self._swap(settings, lambda: store_secrets(choice, settings), "the owner")
            self._store.set(BACKEND_KEY, stored_form(settings))
        return self.status()

    async def revert(self) -> BackendStatus:
        """Go back to the config file's back end."""
        async with self._changing:
            self._store.set(BACKEND_KEY, None)
            await self._swap(self._file, lambda: None, "the owner (back to the config file)")
        return self.status()

    async def _swap(
        self, settings: OcppSettings, write_secrets: Callable[[], None], by: str
    ) -> None:
        dropped = 0
        old = self._client
        if old is not None:
            old.stop()
            await self._idle.wait()
            dropped = old.forget_backend()
            old.close()
        self._client = None
        write_secrets()
        previous = self._settings
        self._settings = settings
        try:
            self._client = self._factory(settings) if settings.enabled else None
        except Exception as exc:
            # Checked before, so this is a fault of the machine (a file, a disk): say so.
            _log.error("cannot start the OCPP client for %s: %s", settings.url, exc)
            raise BackendError(f"the back end could not be started: {exc}") from None
        finally:
            self._swapped.set()
        where = f"{settings.url} as {settings.identity}" if settings.enabled else "no back end"
        self._seclog.record(
            SecurityEventType.BACKEND_CHANGED,
            f"back end changed by {by} from {previous.url} to {where} "
            f"(OCPP {settings.version}, security profile {settings.security_profile}); "
            f"{dropped} undelivered message(s) for the old back end dropped",
        )


__all__ = ["BackendChoice", "BackendError", "BackendStatus", "ClientFactory", "OcppService"]
