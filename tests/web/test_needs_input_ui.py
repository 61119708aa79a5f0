"""Needs input in a real browser: the board's lane shows an agent's question as it is asked (live), and
the ticket page's form answers it, which queues the task again."""

from __future__ import annotations

import pytest

from phaseloom.db.models import Task
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.queue import InputRequests

pytestmark = pytest.mark.slow  # a real browser and a real server per test

QUESTION = "Should an empty password show an error or disable the button?"


def test_the_needs_input_lane_shows_the_question_and_the_ticket_form_answers_it(page, site):
    _server, demo, db = site
    assert page.locator("#needs-input").is_hidden()  # no question yet: no lane

    InputRequests(UnitOfWork(db)).ask(demo.running_task, "ana", QUESTION, ["show an error", "disable it"])
    lane = page.locator("#needs-input")
    lane.locator(f"li.question[data-task-id='{demo.running_task}']").wait_for()  # live: no reload
    assert QUESTION in lane.inner_text() and "show an error · disable it" in lane.inner_text()
    assert lane.get_by_role("heading", name="Needs input").is_visible()

    lane.get_by_role("link", name="Login page").click()
    form = page.locator(f"form#answer-{demo.running_task}")
    form.wait_for()
    assert QUESTION in page.locator("article.question").inner_text()
    form.get_by_role("button", name="disable it").click()  # an option fills the answer in
    assert form.get_by_label("Your answer").input_value() == "disable it"
    form.get_by_label("Your answer").fill("Disable the button until both fields are filled.")
    form.get_by_role("button", name="Send answer").click()
    page.wait_for_selector(".notice.ok")
    assert "queued again" in page.locator(".notice.ok").inner_text()
    page.locator("article.question").wait_for(state="detached")  # answered: the form is gone

    uow = UnitOfWork(db)
    with uow:
        task = uow.session.get(Task, demo.running_task)
        assert (task.status, task.assigned_agent_id) == ("pending", None)
    [answered] = InputRequests(uow).answered(demo.running_task)
    assert (answered.answer, answered.answered_by) == ("Disable the button until both fields are filled.", "admin")

    page.goto(page.url.split("/ticket")[0] + "/board?project=demo")
    page.wait_for_selector("#board[data-loaded] .card")
    assert page.locator("#needs-input").is_hidden()


def test_an_answer_to_a_question_answered_meanwhile_is_refused_with_the_reason(page, site):
    server, demo, db = site
    InputRequests(UnitOfWork(db)).ask(demo.running_task, "ana", QUESTION)
    page.goto(f"{server.url}/ticket?id={demo.testing_ticket}")
    form = page.locator(f"form#answer-{demo.running_task}")
    form.wait_for()
    InputRequests(UnitOfWork(db)).answer(demo.running_task, "show an error", answered_by="cli")  # someone else

    form.get_by_label("Your answer").fill("disable it")
    form.get_by_role("button", name="Send answer").click()
    notice = page.locator(".notice.error")
    notice.wait_for()
    assert "not waiting for an answer" in notice.inner_text()
    [answered] = InputRequests(UnitOfWork(db)).answered(demo.running_task)
    assert answered.answer == "show an error"  # the refused answer changed nothing
