"""The shell's draw is uniform over the whole seconds 0..max, both ends included.

These tests use real ``secrets`` draws, so they are statistical. The chi-square
test runs at a significance of 0.001 on a sample of 10,000 draws, and a sample
that fails is followed by a second, independent one that must fail too: a
correct generator fails both about once in a million runs (CI must not flake),
while one skewed over the range (towards short delays, say, or a modulo bias
over a wide span) fails both nearly always.
With 601 possible values each is expected about 16.6 times, above the usual
minimum of 5 for the chi-square approximation. One missing value (a draw that
never reaches the maximum, as EVerest's does) barely moves a 600-degree
chi-square, so a separate test with a small maximum checks both ends are drawn.
"""

import secrets
from collections import Counter

import pytest
from scipy import stats

from ukscp.regulation.delay_gate import draw_delay_s

SIGNIFICANCE = 0.001
DRAWS = 10_000


def _chi_square_p(maximum: int) -> float:
    counts = Counter(draw_delay_s(maximum) for _ in range(DRAWS))
    assert set(counts) <= set(range(maximum + 1))
    observed = [counts.get(second, 0) for second in range(maximum + 1)]
    return float(stats.chisquare(observed).pvalue)  # against the uniform expectation


def test_draws_for_max_600_are_uniform_over_0_to_600():
    p_values = [_chi_square_p(600)]
    if p_values[0] <= SIGNIFICANCE:
        p_values.append(_chi_square_p(600))  # a second, independent sample
    assert max(p_values) > SIGNIFICANCE, f"chi-square p-values {p_values}"


def test_draws_for_a_small_max_reach_both_zero_and_max():
    # Missing any one of 11 values in 2,000 draws has probability below 1e-80.
    seen = {draw_delay_s(10) for _ in range(2_000)}
    assert seen == set(range(11))


def test_draws_are_whole_seconds_within_1800():
    for _ in range(1_000):
        value = draw_delay_s(1800)
        assert isinstance(value, int) and 0 <= value <= 1800


def test_draw_for_max_0_is_0():
    assert draw_delay_s(0) == 0


def test_draw_asks_secrets_for_max_plus_one(monkeypatch):
    bounds = []

    def randbelow(bound):
        bounds.append(bound)
        return bound - 1

    monkeypatch.setattr(secrets, "randbelow", randbelow)
    assert draw_delay_s(600) == 600
    assert bounds == [601]


def test_draw_refuses_a_negative_max():
    with pytest.raises(ValueError, match=">= 0"):
        draw_delay_s(-1)
