"""CSV lines for the owner's export of metering history (RFC 4180, CRLF line ends).

Pure formatting; the store feeds it rows page by page so an export of 13
months streams in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

CSV_HEADER = (
    "start,energy_import_wh,energy_export_wh,mean_power_w,max_power_w,max_current_a,partial\r\n"
)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One bucket of metering history.

    ``start`` is the bucket's start in Europe/London time; energies are what
    flowed within the bucket; power is signed (import positive) and ``None``
    where no sample fell in the bucket. ``partial`` marks the bucket still in
    progress: its figures are those measured up to the moment of the query.
    """

    start: datetime
    import_wh: float
    export_wh: float
    mean_power_w: float | None
    max_power_w: float | None
    max_current_a: float | None = None
    partial: bool = False


def _num(value: float | None, decimals: int) -> str:
    # Fixed decimals: a spreadsheet should not meet 1e-05 or 0.30000000000000004.
    return "" if value is None else f"{value:.{decimals}f}"


def csv_line(row: HistoryRow, *, milliseconds: bool = False) -> str:
    """One CSV record for ``row``; the time carries its UTC offset, so the two
    01:30s of the autumn clock change stay distinct."""
    start = row.start.isoformat(timespec="milliseconds" if milliseconds else "seconds")
    fields = (
        start,
        _num(row.import_wh, 3),
        _num(row.export_wh, 3),
        _num(row.mean_power_w, 1),
        _num(row.max_power_w, 1),
        _num(row.max_current_a, 2),
        "true" if row.partial else "false",
    )
    return ",".join(fields) + "\r\n"


def csv_lines(rows: Iterable[HistoryRow], *, milliseconds: bool = False) -> Iterator[str]:
    """The header, then one line per row, lazily."""
    yield CSV_HEADER
    for row in rows:
        yield csv_line(row, milliseconds=milliseconds)
