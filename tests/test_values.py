"""The checks every entry point applies to numbers and text (``pmf_engine.core.values``)."""

from __future__ import annotations

import math

import pytest

from pmf_engine.core import values
from pmf_engine.core.errors import InvalidInput


@pytest.mark.parametrize(
    "text", ["nan", "NaN", "-inf", "inf", "Infinity", "1e400", "-1e400", "1_000", "0x10", "", "1,5"]
)
def test_parse_number_refuses_what_is_not_a_plain_finite_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a number|too large"):
        values.parse_number(text)


@pytest.mark.parametrize(
    ("text", "number"), [("42", 42.0), (" -1.5 ", -1.5), ("2e3", 2000.0), (".5", 0.5), ("+7.", 7.0)]
)
def test_parse_number_reads_plain_decimals(text: str, number: float) -> None:
    assert values.parse_number(text) == number


def test_check_number() -> None:
    assert values.check_number("value", None) is None and values.check_number("value", 3) == 3.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidInput, match=r"value: .* not a finite number") as raised:
            values.check_number("value", bad)
        assert raised.value.field == "value"


@pytest.mark.parametrize(
    ("text", "why"),
    [("a\x00b", "a NUL byte at character 2"), ("\x1b[2J", "U+001B"), ("a\rb", "a carriage return"),
     ("\ud800", "lone surrogate")],
)  # fmt: skip
def test_check_text_refuses_control_characters(text: str, why: str) -> None:
    assert why in (values.text_problem(text) or "")
    with pytest.raises(InvalidInput, match="narrative contains") as raised:
        values.check_text("narrative", text)
    assert raised.value.field == "narrative"


def test_check_text_keeps_tabs_and_newlines_and_reads_crlf_as_a_newline() -> None:
    assert values.check_text("n", "a\tb\nc\r\nd") == "a\tb\nc\nd"
    assert values.check_text("n", None) is None
    with pytest.raises(InvalidInput, match="one line"):
        values.check_line("actor", "a\nb")


def test_check_data_walks_mappings_and_lists() -> None:
    data = {"services": ["HOUSING", "WASTE"], "n": 3, "ok": True, "none": None}
    assert values.check_data("data", data) == data
    for bad, field in (({"services": ["OK", "W\x00"]}, "data.services.1"), ({"x": math.nan}, "data.x"),
                       ({"k\x00": 1}, "data key"), ({"b": b"bytes"}, "data.b")):  # fmt: skip
        with pytest.raises(InvalidInput) as raised:
            values.check_data("data", bad)
        assert raised.value.field == field


def test_check_attempt_checks_every_part_of_a_fire() -> None:
    assert values.check_attempt("K/1", "submit", "me", "why\r\n", {"a": "b"}) == ("why\n", {"a": "b"})
    for args in (("K\x00", "t", "me", None, {}), ("K", "t", "m\te", None, {}), ("K", "t", "me", "\x07", {})):
        with pytest.raises(InvalidInput):
            values.check_attempt(*args)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like(text: str) -> None:
    assert values.formula_like(text) and not values.formula_like("Rent " + text)
