"""The measuring system of regulation 9: 1 s meter samples, rollups, sessions, export.

Typical wiring (the composition root does this)::

    store = MeteringStore(data_dir / METERING_FILE)
    store.attach(bus)                       # sessions and rate changes
    sampler = MeterSampler(meter, clock, store)
    task = asyncio.create_task(sampler.run())
    ...
    sampler.stop(); await task; store.close()

The maths (rollups, buckets, retention horizon) is pure and lives in
:mod:`~ukscp.metering.rollup` and :mod:`~ukscp.metering.buckets`; the store is
the SQLite layer, the sampler the asyncio shell.
"""

from ukscp.metering.buckets import EARLIEST_QUERY_TIME, RESOLUTIONS, Resolution, check_query_time
from ukscp.metering.export import HistoryRow
from ukscp.metering.rollup import Rollup, Sample
from ukscp.metering.sampler import MeterSampler
from ukscp.metering.store import (
    METERING_FILE,
    DeletedPersonalData,
    MeteringStore,
    RateChange,
    RetentionResult,
    SessionRecord,
)

__all__ = [
    "EARLIEST_QUERY_TIME",
    "METERING_FILE",
    "RESOLUTIONS",
    "DeletedPersonalData",
    "HistoryRow",
    "MeterSampler",
    "MeteringStore",
    "RateChange",
    "Resolution",
    "RetentionResult",
    "Rollup",
    "Sample",
    "SessionRecord",
    "check_query_time",
]
