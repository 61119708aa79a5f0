"""Launch-template rules: typed values, one problem per parameter, one-pass rendering."""

from __future__ import annotations

from phaseloom.domain.launch import (
    LaunchParameter,
    LaunchTemplate,
    check_values,
    default_problem,
    placeholders,
    render,
)

TEMPLATE = LaunchTemplate(parameters=(
    LaunchParameter("title"), LaunchParameter("notes", type="textarea", required=False),
    LaunchParameter("level", type="dropdown", options=("Low", "High"), default="Low"),
    LaunchParameter("count", type="number", required=False), LaunchParameter("fast", type="boolean", default=False),
), first_task_prompt="{title} / {level} / {count} / {fast} / {notes} / {other}")


def test_values_are_typed_and_defaults_fill_in():
    values, problems = check_values(TEMPLATE, {"title": "T", "count": "2.5", "fast": "YES"})
    assert problems == []
    assert values == {"title": "T", "notes": "", "level": "Low", "count": 2.5, "fast": True}
    assert check_values(TEMPLATE, {"title": "T", "count": 7})[0]["count"] == 7


def test_each_bad_parameter_is_one_problem():
    _, problems = check_values(TEMPLATE, {"title": "two\nlines", "level": "Mid", "count": "nan", "fast": 2, "x": 1})
    assert [name for name, _ in problems] == ["x", "title", "level", "count", "fast"]
    assert check_values(TEMPLATE, {})[1] == [("title", "required (title)")]


def test_rendering_is_one_pass_and_leaves_other_braces():
    text = render(TEMPLATE.first_task_prompt, {"title": "{level}", "level": "Low", "count": 3, "fast": False,
                                               "notes": ""})
    assert text == "{level} / Low / 3 / false /  / {other}"
    assert placeholders(TEMPLATE.first_task_prompt)[:2] == ["title", "level"]


def test_a_default_that_does_not_fit_is_named():
    assert "not one of the options" in default_problem(LaunchParameter("l", type="dropdown", options=("a",),
                                                                       default="b"))
    assert default_problem(LaunchParameter("n", type="number", default="x")).startswith("default 'x'")
