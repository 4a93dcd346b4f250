"""Password checks off the charger's event loop, on a bounded worker.

An argon2id check takes tens of milliseconds of CPU and 64 MiB; run in the event
loop, a flood of logins stalled charging and metering (5 of 20 meter samples stored
in 20 s). Here each check runs on a small thread pool (argon2 releases the GIL while
it hashes) and at most ``queue`` more wait their turn: beyond that a check is refused
at once with :class:`PasswordWorkerBusy`, and nothing is hashed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# One thread: the charger's loop keeps the other core of a 2-core board.
DEFAULT_THREADS = 1
DEFAULT_QUEUE = 8
# Below the event loop (nice 0: about a tenth of its CPU share when both want a core),
# not at the bottom: at nice 19 any busy neighbour on the board, a home-automation
# service say, left the owner's own login waiting for seconds.
BELOW_THE_LOOP = 10  # nice


def _below_the_loop() -> None:
    # On Linux a thread has its own nice value (setpriority with its thread id);
    # elsewhere the same call would lower the whole process, charging included.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BELOW_THE_LOOP)


class PasswordWorkerBusy(Exception):
    """Too many password checks are waiting; this one was not started."""


class PasswordWorker:
    """Runs calls that hash passwords on ``threads`` threads, ``queue`` more waiting."""

    def __init__(self, threads: int = DEFAULT_THREADS, queue: int = DEFAULT_QUEUE) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="password", initializer=_below_the_loop
        )
        # Released when the call ends in its thread, not when its caller stops waiting:
        # a caller that gives up does not free a place that is still taken.
        self._places = threading.BoundedSemaphore(threads + queue)

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """The result of ``call(*args, **kwargs)``, run on the worker.

        Raises :class:`PasswordWorkerBusy` at once when the queue is full.
        """
        if not self._places.acquire(blocking=False):
            raise PasswordWorkerBusy("too many password checks are waiting")
        try:
            future = self._executor.submit(functools.partial(call, *args, **kwargs))
        except BaseException:
            self._places.release()
            raise
        future.add_done_callback(lambda _: self._places.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish the running check, drop the waiting ones, stop the threads."""
        self._executor.shutdown(wait=True, cancel_futures=True)
