"""The frame check's pure core: depth, numbers and shape of OCPP-J frames, with no websocket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ukscp.ocpp.frames import MAX_DEPTH, Fault, check_frame, depth


def true_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((true_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(item) for item in value.values()), default=0)
    return 0


# Strings full of brackets, quotes and backslashes: the scan must not count what is in them.
awkward_text = st.text(alphabet='[]{}"\\,:ab ', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | awkward_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(awkward_text, inner, max_size=3),
    max_leaves=20,
)


@given(json_values)
def test_depth_is_the_nesting_of_the_json_value(value: Any) -> None:
    assert depth(json.dumps(value)) == true_depth(value)


def test_brackets_inside_strings_do_not_count() -> None:
    assert depth(r'[2,"[[[[","Reset",{"type":"\"{{{{"}]') == 2


def test_an_ordinary_call_passes() -> None:
    assert check_frame('[2,"id-1","Reset",{"type":"Hard"}]') is None
    assert check_frame('[3,"id-1",{"status":"Accepted"}]') is None
    assert check_frame('[4,"id-1","NotSupported","no",{}]') is None


def test_just_deep_enough_passes_and_one_more_is_refused() -> None:
    inner = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    assert check_frame(f'[2,"a","Reset",{{"x":{inner}}}]') is None
    refusal = check_frame(f'[2,"a","Reset",{{"x":[{inner}]}}]')
    assert refusal is not None
    assert (refusal.fault, refusal.message_id) == (Fault.FORMAT, "a")


@pytest.mark.parametrize(
    ("number", "passes"),
    [
        ("1000000000000000", True),  # 10^15
        ("1000000000000001", False),
        ("-1e15", True),
        ("1.5e15", False),
        ("1e308", False),
        ("1e400", False),  # infinity once parsed
        ("NaN", False),
        ("Infinity", False),
        ("9" * 5000, False),  # beyond Python's own limit on digits
        ("0.000000000000000000001", True),
    ],
)
def test_numbers_beyond_any_ocpp_field_are_refused(number: str, passes: bool) -> None:
    refusal = check_frame(f'[2,"n","SetChargingProfile",{{"limit":{number}}}]')
    assert (refusal is None) is passes
    if refusal is not None:
        assert (refusal.fault, refusal.message_id, refusal.message_type) == (Fault.FORMAT, "n", 2)


def test_an_unterminated_string_full_of_escaped_quotes_is_not_json() -> None:
    refusal = check_frame('[2,"' + '\\"' * 30_000)
    assert refusal is not None
    assert refusal.fault is Fault.UNREADABLE


@pytest.mark.parametrize(
    ("text", "fault", "unique_id"),
    [
        ("[]", Fault.UNREADABLE, None),
        ('[2, "' + "x" * 37 + '", "Reset", {}]', Fault.UNREADABLE, None),  # ids are <= 36
        ('[2, "", "Reset", {}]', Fault.UNREADABLE, None),
        ('[true, "a", "Reset", {}]', Fault.UNREADABLE, None),
        ('[9, "a"]', Fault.UNKNOWN_TYPE, "a"),
        ('[2, "a", "' + "R" * 65 + '", {}]', Fault.FORMAT, "a"),
        ('[3, "a", []]', Fault.FORMAT, "a"),
        ('[4, "a", "GenericError", 5, {}]', Fault.FORMAT, "a"),
        ('[2,"cut","Reset",{"type":', Fault.FORMAT, "cut"),  # not JSON, but its id is readable
    ],
)
def test_frames_of_the_wrong_shape(text: str, fault: Fault, unique_id: str | None) -> None:
    refusal = check_frame(text)
    assert refusal is not None
    assert (refusal.fault, refusal.message_id) == (fault, unique_id)


def test_answers_are_never_answered() -> None:
    refusal = check_frame('[3,"a"]')
    assert refusal is not None
    assert not refusal.answerable
