import pytest
from hypothesis import settings
from ukscp.regulation import random_delay as rd
from ukscp.limits import LimitSource
from tests.unit.test_random_delay_properties import DelayMachine

def test_dsr_row_mutation_is_caught(monkeypatch):
    table = dict(rd.POLICY_TABLE)
    for d in rd.Direction:
        table[(LimitSource.DSR, d)] = rd.Rule(True, True, "x")
    monkeypatch.setattr(rd, "POLICY_TABLE", table)
    with pytest.raises(AssertionError):
        DelayMachine.TestCase("runTest").runTest()

def test_extension_mutation_is_caught(monkeypatch):
    orig = rd._on_limit_during_delay
    def bad(state, event, now):
        s, o = orig(state, event, now)
        if s.delay is not None:
            s = rd.replace(s, delay=rd.replace(s.delay, deadline=s.delay.deadline + 5))
        return s, o
    monkeypatch.setattr(rd, "_on_limit_during_delay", bad)
    with pytest.raises(AssertionError):
        DelayMachine.TestCase("runTest").runTest()

def test_superseding_protective_mutation_is_caught(monkeypatch):
    orig = rd._on_limit_during_delay
    def bad(state, event, now):
        # hold everything during a delay
        return rd.replace(state), rd.Output(offer=state.offered)
    monkeypatch.setattr(rd, "_on_limit_during_delay", bad)
    with pytest.raises(AssertionError):
        DelayMachine.TestCase("runTest").runTest()
