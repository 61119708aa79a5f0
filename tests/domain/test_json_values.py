"""json_problem: what stores on every backend passes; what does not is named with where it is."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.json_values import json_problem, storable_text

storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
plain = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(storable),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(storable, max_size=5), inner,
                                                                                   max_size=4),
                     max_leaves=20)


@given(plain)
def test_every_plain_json_value_passes(value):
    assert json_problem(value) is None
    json.dumps(value, allow_nan=False).encode("utf-8")  # the reference: strict JSON in UTF-8


def test_what_no_backend_stores_is_named():
    assert json_problem({"s": "\ud800"}) == "$.s is not valid Unicode (a lone surrogate)"
    assert json_problem({"x": [1, float("nan")]}) == "$.x[1] is nan: numbers must be finite"
    assert json_problem({"x": float("inf")}) == "$.x is inf: numbers must be finite"
    assert "U+0000" not in (json_problem({"t": "a\x00b"}) or "") and json_problem({"t": "a\x00b"})
    deep: dict = {}
    node = deep
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    assert json_problem(deep).startswith("the value is nested deeper than 64 levels")
    assert json_problem({"big": "x" * 1_000_001}) == "the value holds more than 1,000,000 characters of text"


def test_failure_text_is_kept_with_only_the_unstorable_replaced():
    assert storable_text("plain words") == "plain words"
    cleaned = storable_text("log \ud800 tail\x00!")
    assert cleaned.startswith("log ") and cleaned.endswith(" tail!") and json_problem(cleaned) is None
