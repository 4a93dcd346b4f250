"""One OCPP 1.6 request answered by the charger's router, in process: the per-message cost.

The 1.6 ``Router.route_message`` (the frame check, the ``ocpp`` library's parsing,
ukscp's payload check, the route, the answer and its schema check) on GetConfiguration
frames, with a stand-in for the websocket (``send`` does nothing) and a route that
answers from a constant, and the root logger at INFO as ``ukscp run`` sets it (written to
``/dev/null``, which is cheaper than the terminal or journal of a real charger). Prints
the median microseconds per request over 3,000 requests, after 300 to warm up.

To compare two versions, run it alternately against a ``git archive`` of each commit,
several times, since the machine's load moves between runs:

    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/ocpp_route.py
    PYTHONPATH=/tmp/after/src .venv/bin/python benchmarks/ocpp_route.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import time
from typing import Any

from ukscp.ocpp.routes import Call, Route, join
from ukscp.ocpp.v16._lib import Router, result

WARM_UP = 300
REQUESTS = 3000


class Connection:
    """The websocket: every answer is sent at once, nowhere."""

    async def send(self, text: str) -> None:
        return None


def get_configuration(_: Call) -> Any:
    """The charger's side of GetConfiguration, answered from a constant."""
    key = {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
    return result("GetConfiguration", configuration_key=[key])


async def median_us() -> float:
    routes = join([Route("GetConfiguration", get_configuration)])
    router = Router("CP_BENCH", Connection(), routes, 30)
    frames = [
        json.dumps([2, f"id-{n}", "GetConfiguration", {"key": ["HeartbeatInterval"]}])
        for n in range(WARM_UP + REQUESTS)
    ]
    for frame in frames[:WARM_UP]:
        await router.route_message(frame)
    spent = []
    for frame in frames[WARM_UP:]:
        start = time.perf_counter_ns()
        await router.route_message(frame)
        spent.append(time.perf_counter_ns() - start)
    return statistics.median(spent) / 1000


def main() -> None:
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    with open(os.devnull, "w") as sink:
        logging.basicConfig(level=logging.INFO, stream=sink, format=log_format)
        print(f"{asyncio.run(median_us()):.0f}")


if __name__ == "__main__":
    main()
