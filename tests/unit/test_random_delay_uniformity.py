"""The shell's draw is uniform over the whole seconds 0..max, both ends included.

These tests use real ``secrets`` draws, so they are statistical. The chi-square
test runs at a fixed significance of 0.001: a correct generator fails it about
once in a thousand runs, while one skewed over the range (towards short delays,
say, or a modulo bias over a wide span) fails nearly always with 10,000 draws.
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


def test_draws_for_max_600_are_uniform_over_0_to_600():
    counts = Counter(draw_delay_s(600) for _ in range(DRAWS))
    assert set(counts) <= set(range(601))
    observed = [counts.get(second, 0) for second in range(601)]
    result = stats.chisquare(observed)  # against the uniform expectation
    assert result.pvalue > SIGNIFICANCE, f"chi-square p={result.pvalue:.2e}"


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
