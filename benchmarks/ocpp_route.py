"""One OCPP 1.6 request answered by the charger's router, in process: the per-message cost.

``ChargePoint16.route_message`` (the frame check, the ``ocpp`` library's parsing and
schema validation, ukscp's payload check, the handler, the answer) on GetConfiguration
frames, with a stand-in for the websocket (``send`` does nothing) and for the client
(it answers at once), and the root logger at INFO as ``ukscp run`` sets it (written to
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

from ukscp.ocpp.v16.charge_point import ChargePoint16

WARM_UP = 300
REQUESTS = 3000


class Connection:
    """The websocket: every answer is sent at once, nowhere."""

    async def send(self, text: str) -> None:
        return None


class Client:
    """The charger's side of GetConfiguration, answered from a constant."""

    def smart_charging_supported(self) -> bool:
        return False

    def get_configuration(self, keys: Any) -> tuple[list[dict[str, Any]], list[str]]:
        return [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}], []


async def median_us() -> float:
    router = ChargePoint16("CP_BENCH", Connection(), Client(), 30)  # type: ignore[arg-type]
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
