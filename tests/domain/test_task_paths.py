"""A glob's literal prefix: any two globs that can match one path have conflicting prefixes."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phaseloom.domain.task_paths import glob_problem, literal_prefix, normalised_globs, prefixes_conflict


@pytest.mark.parametrize("glob, prefix", [
    ("src/auth/**", "src/auth/"), ("**", ""), ("*.py", ""), ("src/*.py", "src/"), ("src/a?c/x", "src/a"),
    ("src/[ab]/x", "src/"), ("src/{a,b}.py", "src/"), ("README.md", "README.md"), ("docs/", "docs/"),
])
def test_the_literal_prefix_stops_at_the_first_wildcard(glob, prefix):
    assert literal_prefix(glob) == prefix


@pytest.mark.parametrize("a, b, conflict", [
    ("src/auth/", "src/auth/login.py", True), ("", "anything", True), ("src/", "src/", True),
    ("src/auth/", "src/billing/", False), ("docs/", "README.md", False), ("src/a", "src/ab/", True),
])
def test_prefixes_conflict_when_one_starts_with_the_other(a, b, conflict):
    assert prefixes_conflict(a, b) is conflict
    assert prefixes_conflict(b, a) is conflict


def test_globs_are_normalised_and_deduplicated():
    assert normalised_globs(["./src/**", "src/**", " docs/*.md "]) == ["src/**", "docs/*.md"]
    assert normalised_globs(None) == []
    assert glob_problem("src/ok/*.py") is None
    for bad in (" /etc/*", "./", "./../x", "src/../../x"):
        with pytest.raises(ValueError, match="paths: "):
            normalised_globs([bad])


_SEGMENT = st.text(alphabet="ab.", min_size=1, max_size=3)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join)
_WILD = st.sampled_from(["*", "**", "?", "[ab]", "*.a"])


@st.composite
def globs(draw):
    """A glob made of literal segments with wildcards spliced in: literals, wildcards, mixtures."""
    parts = draw(st.lists(st.one_of(_SEGMENT, _WILD), min_size=1, max_size=4))
    return "/".join(parts)


@settings(max_examples=100, deadline=None)
@given(globs(), globs(), st.lists(_PATH, min_size=1, max_size=20))
def test_if_one_path_matches_both_globs_their_prefixes_conflict(first, second, paths):
    for path in paths:
        for candidate in (path, first.replace("*", "a").replace("?", "a").replace("[ab]", "a")):
            if fnmatchcase(candidate, first) and fnmatchcase(candidate, second):
                assert prefixes_conflict(literal_prefix(first), literal_prefix(second)), (first, second, candidate)


@settings(max_examples=100, deadline=None)
@given(globs(), _PATH)
def test_every_path_a_glob_matches_starts_with_its_prefix(glob, path):
    if fnmatchcase(path, glob):
        assert path.startswith(literal_prefix(glob))


def test_the_files_an_attempt_changed_are_covered_by_few_enough_globs():
    from phaseloom.domain.task_paths import covering_globs

    assert covering_globs(["b.py", "a/x.py", "a/x.py"]) == ["a/x.py", "b.py"]
    assert covering_globs([f"src/{n}.py" for n in range(5)] + ["top.md"], limit=3) == ["src/**", "top.md"]
    assert covering_globs([f"d{n}/f.py" for n in range(5)], limit=3) == ["**"]
    assert covering_globs(["odd\\name.py"]) == ["**"]
