"""The pure rollup maths: energy between samples, minute buckets, resumable state."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ukscp.metering.rollup import (
    AccumulatorState,
    Rollup,
    RollupAccumulator,
    Sample,
    fold_rows,
    interval_energy,
    merge,
    sample_problem,
    split_by_minute,
    to_hours,
)

T0 = 1_767_571_200_000  # 2026-01-05 00:00:00 UTC, on a whole hour, in ms


def at(seconds: float, import_wh: float | None = None, power_w: float = 0.0, **kw: float) -> Sample:
    return Sample(T0 + round(seconds * 1000), power_w, import_wh, kw.get("export_wh"))


def run(samples: list[Sample], acc: RollupAccumulator | None = None) -> list[Rollup]:
    acc = acc or RollupAccumulator()
    done: list[Rollup] = []
    for sample in samples:
        done.extend(acc.add(sample))
    return done


def steady(seconds: int, watts: float = 7200.0) -> list[Sample]:
    """A sample every second at constant power, registers agreeing with it."""
    return [
        Sample(T0 + t * 1000, watts, watts * t / 3600, 0.0, watts / 230, None, None)
        for t in range(seconds + 1)
    ]


# -- energy between two samples --------------------------------------------------------


def test_interval_energy_is_the_register_difference() -> None:
    assert interval_energy(at(0, 100.0), at(1, 102.5), 300) == (2.5, 0.0)


def test_interval_energy_integrates_power_when_there_are_no_registers() -> None:
    imported, exported = interval_energy(at(0, power_w=3600.0), at(10), 300)
    assert imported == pytest.approx(10.0)
    assert exported == 0.0


def test_negative_power_integrates_as_export() -> None:
    imported, exported = interval_energy(at(0, power_w=-1800.0), at(2), 300)
    assert imported == 0.0
    assert exported == pytest.approx(1.0)


def test_register_running_back_counts_as_no_energy() -> None:
    assert interval_energy(at(0, 5000.0), at(1, 10.0), 300)[0] == 0.0


def test_power_is_not_integrated_over_a_gap_longer_than_max_gap() -> None:
    assert interval_energy(at(0, power_w=7000.0), at(301), 300) == (0.0, 0.0)


def test_registers_count_across_a_long_gap() -> None:
    assert interval_energy(at(0, 10.0), at(3600, 30.0), 300)[0] == 20.0


# -- sharing an interval between minutes -----------------------------------------------


def test_interval_inside_one_minute_goes_to_that_minute() -> None:
    assert split_by_minute(T0 + 59_000, T0 + 60_000, 3.0) == [(T0 // 1000, 3.0)]


def test_interval_across_a_minute_boundary_is_shared_by_time() -> None:
    shares = split_by_minute(T0 + 59_500, T0 + 60_500, 4.0)
    assert shares == [(T0 // 1000, 2.0), (T0 // 1000 + 60, 2.0)]


def test_shares_add_up_exactly() -> None:
    shares = split_by_minute(T0 + 1, T0 + 250_003, 0.1)
    assert len(shares) == 5
    assert math.fsum(share for _, share in shares) == pytest.approx(0.1, abs=1e-18)
    assert sum(share for _, share in shares) == 0.1


# -- minute rollups --------------------------------------------------------------------


def test_samples_on_whole_seconds_give_each_minute_its_own_energy() -> None:
    done = run(steady(180, watts=7200.0))
    assert [m.start_s for m in done] == [T0 // 1000, T0 // 1000 + 60, T0 // 1000 + 120]
    for minute in done:
        assert minute.samples == 60
        assert minute.import_wh == pytest.approx(120.0)  # 7.2 kW for 1 min
        assert minute.mean_power_w == 7200.0
        assert minute.max_power_w == 7200.0
        assert minute.max_current_a == pytest.approx(7200 / 230)


def test_a_minute_completes_only_when_a_later_minute_begins() -> None:
    acc = RollupAccumulator()
    assert run(steady(59), acc) == []
    assert acc.state.open_minute is not None
    assert acc.state.open_minute.samples == 60
    assert len(acc.add(Sample(T0 + 60_000, 0.0, 7200 / 60, 0.0))) == 1


def test_mean_and_max_follow_the_samples_of_the_minute() -> None:
    samples = [
        Sample(T0 + t * 1000, float(t), None, None, None, float(t % 7), None) for t in range(61)
    ]
    (minute,) = run(samples)
    assert minute.mean_power_w == pytest.approx(29.5)
    assert minute.max_power_w == 59.0
    assert minute.max_current_a == 6.0


def test_interval_across_minutes_shares_energy_with_the_minute_it_ends_in() -> None:
    done = run([at(59.5, 0.0), at(60.5, 4.0), at(120.0, 4.0)])
    assert [(m.start_s - T0 // 1000, m.import_wh, m.samples) for m in done] == [
        (0, 2.0, 1),
        (60, 2.0, 1),
    ]


def test_energy_over_a_long_gap_goes_to_the_minute_it_was_read_in() -> None:
    acc = RollupAccumulator(max_gap_s=300)
    done = run([at(0, 0.0), at(3600, 500.0)], acc)
    assert [(m.start_s - T0 // 1000, m.import_wh) for m in done] == [(0, 0.0)]
    assert acc.state.open_minute == Rollup(
        start_s=T0 // 1000 + 3600, samples=1, power_sum_w=0.0, max_power_w=0.0, import_wh=500.0
    )


def test_clock_stepping_back_reopens_the_earlier_minute_and_keeps_the_energy() -> None:
    acc = RollupAccumulator()
    done = run([at(118, 0.0), at(119, 1.0), at(121, 3.0), at(61, 4.0)], acc)
    # minute 1 (60..119) completed at 121, minute 2 at the step back to 61.
    assert [m.start_s - T0 // 1000 for m in done] == [60, 120]
    assert acc.state.open_minute is not None
    assert acc.state.open_minute.start_s - T0 // 1000 == 60
    assert acc.state.open_minute.import_wh == 1.0  # what flowed across the step
    total = sum(m.import_wh for m in done) + acc.state.open_minute.import_wh
    assert total == 4.0


def test_a_reading_adds_its_energy_to_the_open_minute_but_no_sample() -> None:
    acc = RollupAccumulator()
    run([at(0, 0.0, 3600.0), at(10, 10.0, 3600.0)], acc)
    assert acc.measure_until(at(15, 15.0, 3600.0)) == []
    assert acc.state.open_minute == Rollup(
        start_s=T0 // 1000,
        samples=2,
        power_sum_w=7200.0,
        max_power_w=3600.0,
        import_wh=15.0,
    )
    assert acc.last == at(10, 10.0, 3600.0)  # the stream goes on from the last sample


def test_a_reading_in_a_later_minute_completes_the_open_one() -> None:
    acc = RollupAccumulator()
    run([at(0, 0.0), at(50, 50.0)], acc)
    [done] = acc.measure_until(at(70, 70.0))
    assert (done.start_s - T0 // 1000, done.import_wh, done.samples) == (0, 60.0, 2)
    assert acc.state.open_minute == Rollup(start_s=T0 // 1000 + 60, import_wh=10.0)


def test_state_survives_json_and_resumes_as_if_never_interrupted() -> None:
    samples = steady(200)
    whole = RollupAccumulator()
    expected = run(samples, whole)

    first = RollupAccumulator()
    part = run(samples[:97], first)
    saved = json.loads(json.dumps(first.state.to_json()))
    second = RollupAccumulator(AccumulatorState.from_json(saved))
    part += run(samples[97:], second)

    assert part == expected
    assert second.state == whole.state


def test_closing_the_minute_and_going_on_merges_to_the_same_minute() -> None:
    samples = steady(120)
    expected = run(samples)
    acc = RollupAccumulator()
    parts = run(samples[:30], acc)
    closed = acc.close_minute()
    assert closed is not None
    parts.append(closed)
    parts += run(samples[30:], acc)
    first_minute = [p for p in parts if p.start_s == T0 // 1000]
    assert len(first_minute) == 2
    merged = merge(*first_minute)
    assert merged.samples == expected[0].samples
    assert merged.import_wh == pytest.approx(expected[0].import_wh)
    assert merged.power_sum_w == expected[0].power_sum_w


def test_merge_refuses_different_buckets() -> None:
    with pytest.raises(ValueError):
        merge(Rollup(0), Rollup(60))


def test_minutes_fold_into_their_hours() -> None:
    minutes = [Rollup(T0 // 1000 + 60 * i, 1, 10.0, 10.0 + i, None, 1.0, 0.5) for i in range(150)]
    hours = to_hours(minutes)
    assert [h.start_s - T0 // 1000 for h in hours] == [0, 3600, 7200]
    assert [h.samples for h in hours] == [60, 60, 30]
    assert hours[1].import_wh == 60.0
    assert hours[1].export_wh == 30.0
    assert hours[2].max_power_w == 159.0
    assert hours[0].max_current_a is None


def test_rows_fold_into_the_buckets_between_bounds() -> None:
    hour = 3600
    bounds = [0, 23 * hour, 48 * hour, 73 * hour]  # a 23 h day, a 25 h day, a 25 h day
    rows = [(h * hour, 60, 600.0, float(h), None, 1.0, 0.0) for h in range(73) if h != 30]
    days = list(fold_rows(rows, bounds))
    assert [d.start_s for d in days] == bounds[:3]
    assert [d.import_wh for d in days] == [23.0, 24.0, 25.0]  # hour 30 had no row
    assert [d.samples for d in days] == [23 * 60, 24 * 60, 25 * 60]
    assert [d.max_power_w for d in days] == [22.0, 47.0, 72.0]
    assert days[0].max_current_a is None


def test_folding_skips_buckets_without_rows_and_refuses_disorder() -> None:
    rows = [(7200, 1, 1.0, 1.0, 2.0, 0.5, 0.0)]
    assert [d.start_s for d in fold_rows(rows, [0, 3600, 7200, 10800])] == [7200]
    backwards = [(15, 1, 1.0, 1.0, None, 0.0, 0.0), (5, 1, 1.0, 1.0, None, 0.0, 0.0)]
    with pytest.raises(ValueError):
        list(fold_rows(backwards, [0, 10, 20]))


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sample",
    [
        Sample(T0, math.nan),
        Sample(T0, math.inf),
        Sample(T0, 0.0, math.nan, 0.0),
        Sample(T0, 0.0, -1.0, 0.0),
        Sample(T0, 0.0, 1.0, math.inf),
        Sample(T0, 0.0, None, None, 1.0, math.nan, None),
    ],
)
def test_non_finite_or_negative_readings_are_refused(sample: Sample) -> None:
    assert sample_problem(sample) is not None


def test_a_sane_sample_has_no_problem() -> None:
    assert sample_problem(Sample(T0, -3000.0, 10.0, 5.0, 13.0, -1.0, None)) is None


def test_max_gap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RollupAccumulator(max_gap_s=0)


# -- properties ------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=400_000),  # ms to the next sample (gaps too)
        st.floats(min_value=0, max_value=50, allow_nan=False),  # Wh since the last one
        st.floats(min_value=-11_000, max_value=22_000, allow_nan=False),  # power
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, cut=st.integers(min_value=0, max_value=200))
def test_minute_energy_always_adds_up_to_the_register_difference(
    steps: list[tuple[int, float, float]], cut: int
) -> None:
    samples = [Sample(T0 + 123, 0.0, 1000.0, 0.0)]
    for dt, wh, power in steps:
        prev = samples[-1]
        assert prev.import_wh is not None
        samples.append(Sample(prev.ts_ms + dt, power, prev.import_wh + wh, 0.0))

    # Interrupted anywhere, with a close and a reload in between, nothing is lost.
    acc = RollupAccumulator()
    done = run(samples[:cut], acc)
    closed = acc.close_minute()
    done += [closed] if closed else []
    acc = RollupAccumulator(AccumulatorState.from_json(acc.state.to_json()))
    done += run(samples[cut:], acc)
    if acc.state.open_minute:
        done.append(acc.state.open_minute)

    assert samples[-1].import_wh is not None
    expected = samples[-1].import_wh - 1000.0
    assert math.fsum(m.import_wh for m in done) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert sum(m.samples for m in done) == len(samples)
    assert all(m.start_s % 60 == 0 for m in done)
    assert all(m.import_wh >= -1e-12 for m in done)
    starts = [m.start_s for m in done]
    assert starts == sorted(starts)  # minutes come out in time order
