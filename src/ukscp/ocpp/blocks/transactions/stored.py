"""The open transaction, kept across restarts: the part every OCPP version shares.

Each version has its own record of a transaction (1.6 waits for the CSMS's
transactionId, 2.0.1 names it and numbers its events) and its own way of
opening one; keeping at most one, persisting every change in the settings
store before it is used, and ending or forgetting it is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ukscp.ocpp.port import KeyValueStore


class TransactionRecord(Protocol):
    """A version's frozen dataclass for an open transaction."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def ref(self) -> str:
        """The local reference queued messages and charging profiles bind to."""
        ...

    @property
    def end_reason(self) -> str | None:
        """Set on a clean stop: how to end it at the next start."""
        ...

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        ...


T = TypeVar("T", bound=TransactionRecord)


class StoredTransaction(Generic[T]):
    """The open transaction, if any, persisted under ``key`` in the settings store.

    A version subclasses it with its own ``begin`` (and whatever else changes
    the record), saving through :meth:`_save`.
    """

    def __init__(
        self, store: KeyValueStore, key: str, parse: Callable[[dict[str, Any]], T]
    ) -> None:
        self._store = store
        self._key = key
        raw = store.get(key)
        self._current: T | None = parse(raw) if raw else None

    @property
    def current(self) -> T | None:
        """The open transaction."""
        return self._current

    def end(self) -> T | None:
        """Close the open transaction; returns it (None if there was none)."""
        ended = self._current
        if ended is not None:
            self._save(None)
        return ended

    def forget(self) -> None:
        """Drop the open transaction without ending it (its back end is no longer ours)."""
        self._save(None)

    def set_end_reason(self, reason: str) -> None:
        """Remember how to end the open transaction after a restart (a clean stop)."""
        if self._current is not None:
            self._save(replace(self._current, end_reason=reason))

    def _open(self, transaction: T) -> T:
        """Save a newly begun transaction (ValueError if one is open: one connector)."""
        if self._current is not None:
            raise ValueError("a transaction is already open")
        self._save(transaction)
        return transaction

    def _save(self, transaction: T | None) -> None:
        self._store.set(self._key, None if transaction is None else transaction.to_json())
        self._current = transaction
