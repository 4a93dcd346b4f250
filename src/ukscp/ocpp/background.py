"""Work an OCPP client starts and must not lose: tasks kept, failures logged, cancelled together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

_log = logging.getLogger(__name__)


class Background:
    """Tasks started by a client and cancelled with it; a failure is logged, never lost."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in a task of its own, guarded."""
        self.adopt(asyncio.get_running_loop().create_task(guard(lambda: work)))

    def adopt(self, task: asyncio.Task[Any] | None) -> None:
        """Keep ``task`` (started elsewhere) until it ends, to cancel it with the rest."""
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def tasks(self) -> list[asyncio.Task[Any]]:
        """The tasks still running."""
        return list(self._tasks)


async def guard(work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work``, logging a failure instead of losing it in a forgotten task."""
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception:
        _log.exception("OCPP background work failed")
