"""json_problem: what stores on every backend passes; what does not is named with where it is."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from phaseloom.domain.json_values import json_problem, storable_text

storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
plain = st.recursive(st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(storable),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(storable, max_size=5), inner,
                                                                                   max_size=4),
                     max_leaves=20)


@given(plain)
def test_every_plain_json_value_passes(value):
    assert json_problem(value) is None
    json.dumps(value, allow_nan=False).encode("utf-8")  # the reference: strict JSON in UTF-8


def test_what_no_backend_stores_is_named():
    assert json_problem({"s": "\ud800"}) == "$.s: value contains an unpaired surrogate (not valid Unicode text)"
    assert json_problem({"x": [1, float("nan")]}) == "$.x[1]: number nan is not allowed; use a finite number"
    assert json_problem({"x": float("inf")}) == "$.x: number inf is not allowed; use a finite number"
    assert json_problem({"t": "a\x00b"}) == "$.t: value contains a NUL character"
    assert json_problem({"n": 2**63}) == "$.n: integer is too large"  # as in workflow files
    deep: dict = {}
    node = deep
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    assert json_problem(deep) == "$.a.a.a.a: values are nested more than 64 levels deep"
    assert json_problem({"big": "x" * 1_000_001}) == "the value is more than 1,000,000 characters as JSON"


def test_failure_text_is_kept_with_only_the_unstorable_replaced():
    assert storable_text("plain words") == "plain words"
    cleaned = storable_text("log \ud800 tail\x00!")
    assert cleaned.startswith("log ") and cleaned.endswith(" tail!") and json_problem(cleaned) is None


def test_readable_copy_leaves_plain_values_alone_and_repairs_the_rest():
    from phaseloom.domain.json_values import TOO_DEEP, readable_copy

    plain = {"a": [1, 2.5, "x", None, True]}
    assert readable_copy(plain) is plain  # the usual case: no copy made
    deep: object = 1
    for _ in range(300):
        deep = [deep]
    repaired = readable_copy({"s": "\ud800", "n": float("nan"), "i": float("-inf"), "d": deep, "\ud801": 1})
    assert json_problem(repaired) is None
    assert repaired["s"] == "\ufffd" and repaired["n"] is None and repaired["i"] is None and repaired["\ufffd"] == 1
    node, depth = repaired["d"], 1
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert node == TOO_DEEP and depth == 64
