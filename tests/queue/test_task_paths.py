"""Path globs: overlapping tasks of a project never run together, disjoint ones and undeclared ones do."""

from __future__ import annotations

import pytest

from phaseloom.domain.errors import InvalidInput
from phaseloom.queue import QueueService
from phaseloom.services.agents import AgentService
from phaseloom.services.tickets import TicketService

PHASE = "PHASE_REQUIREMENTS"


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "ticket")


def test_an_overlapping_task_waits_and_is_claimable_once_the_other_ends(uow, ticket):
    queue = QueueService(uow)
    auth = queue.create_task(ticket.id, PHASE, "auth", priority="HIGH", paths=["src/auth/**"])
    login = queue.create_task(ticket.id, PHASE, "login", priority="HIGH", paths=["src/auth/login.py"])
    docs = queue.create_task(ticket.id, PHASE, "docs", priority="LOW", paths=["docs/*.md"])
    agent = AgentService(uow).register_agent("a1")
    assert queue.claim_next_task(agent.id).id == auth.id
    # login overlaps the claimed auth task; docs is disjoint and runs alongside.
    assert queue.claim_next_task(agent.id).id == docs.id
    assert queue.claim_next_task(agent.id) is None
    assert queue.waiting_reasons([queue.get(login.id)]) == {login.id: f"waits for task {auth.id}: src/auth/**"}
    queue.start_task(auth.id, agent.id)
    assert queue.claim_next_task(agent.id) is None  # running holds the paths as claimed did
    queue.complete_task(auth.id, agent.id, {"ok": True})
    assert queue.waiting_reasons([queue.get(login.id)]) == {}
    assert queue.claim_next_task(agent.id).id == login.id


def test_undeclared_tasks_are_claimed_beside_declared_ones(uow, ticket):
    queue = QueueService(uow)
    everything = queue.create_task(ticket.id, PHASE, "everything", priority="HIGH", paths=["**"])
    plain = queue.create_task(ticket.id, PHASE, "plain", priority="LOW")
    blocked = queue.create_task(ticket.id, PHASE, "blocked", priority="LOW", paths=["README.md"])
    agent = AgentService(uow).register_agent("a1")
    assert queue.claim_next_task(agent.id).id == everything.id
    assert queue.claim_next_task(agent.id).id == plain.id
    assert queue.claim_next_task(agent.id) is None
    assert queue.waiting_reasons([queue.get(blocked.id)]) == {blocked.id: f"waits for task {everything.id}: **"}


def test_tasks_of_another_project_do_not_hold_paths(uow, ticket, project):
    from phaseloom.services.projects import ProjectService

    other = ProjectService(uow).create_project("other")
    other_ticket = TicketService(uow).create_ticket(other.id, "other ticket")
    queue = QueueService(uow)
    first = queue.create_task(ticket.id, PHASE, "first", priority="HIGH", paths=["src/**"])
    second = queue.create_task(other_ticket.id, PHASE, "second", priority="LOW", paths=["src/**"])
    agent = AgentService(uow).register_agent("a1")
    assert [queue.claim_next_task(agent.id).id, queue.claim_next_task(agent.id).id] == [first.id, second.id]


@pytest.mark.parametrize("globs, words", [
    (["/etc/passwd"], "absolute"), (["../up/**"], "leaves the repository"), ([""], "empty"),
    (["src/[ab.py"], "unclosed"), ("src/**", "a list of path globs"), ([3], "a string"),
    (["src\\win.py"], "backslash"),
])
def test_bad_globs_are_refused_and_nothing_is_created(uow, ticket, globs, words):
    queue = QueueService(uow)
    with pytest.raises(InvalidInput, match=words):
        queue.create_task(ticket.id, PHASE, "bad", paths=globs)
    assert queue.list(ticket_id=ticket.id) == []


def test_the_phase_configuration_declares_its_tasks_paths(uow, ticket, project):
    from phaseloom.db.models import PhaseRow

    with uow:
        row = uow.session.get(PhaseRow, (project.workflow_id, PHASE))
        row.configuration = {**row.configuration, "paths": ["src/**"]}
    uow.db.workflows.clear()
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, PHASE, "from the phase")
    assert task.path_count == 1
    explicit = queue.create_task(ticket.id, PHASE, "own paths", paths=["docs/**", "README.md"])
    assert explicit.path_count == 2


def test_a_bad_glob_in_a_workflow_file_names_file_line_and_field(tmp_path):
    from phaseloom.domain.errors import WorkflowInvalid
    from phaseloom.loaders.sources import load_workflow_source

    source = tmp_path / "wf.yaml"
    source.write_text("name: wf\nphases:\n  - id: PHASE_A\n    configuration:\n      paths: ['src/**', '/abs/*']\n")
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow_source(source)
    text = str(caught.value)
    assert "wf.yaml" in text and "absolute" in text and "paths" in text and ":5" in text
