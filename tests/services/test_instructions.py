"""Golden-file tests: set UPDATE_GOLDEN=1 to rewrite the files after a deliberate change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phaseloom.domain.errors import NotFound
from phaseloom.services.agents import AgentService
from phaseloom.services.instructions import DEFAULT_SECTIONS, InstructionService, build_instructions
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


@pytest.fixture
def ticket(uow, project):
    return TicketService(uow).create_ticket(project.id, "Add password reset", priority="HIGH",
                                            description="Users who forgot their password can reset it by e-mail.")


def test_requirements_task_golden(uow, ticket):
    task = QueueService(uow).create_task(ticket.id, "PHASE_REQUIREMENTS", "Write the requirements",
                                         description="Cover the e-mail link expiry.")
    text = build_instructions(uow, task.id)
    assert_golden("instructions_requirements.md", text)
    assert "- [ ] Acceptance criteria written for every requirement" in text
    assert "`requirements.md` (document, required)" in text


def test_retry_shows_the_previous_failure_golden(uow, ticket):
    queue = QueueService(uow)
    task = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "Build the reset endpoint", priority="LOW")
    agent = AgentService(uow).register_agent("a")
    queue.claim_next_task(agent.id)
    queue.fail_task(task.id, agent.id, "tests/test_reset.py::test_expiry failed")
    text = build_instructions(uow, task.id)
    assert_golden("instructions_implementation_retry.md", text)
    assert "attempt 2 of 4" in text
    assert "The previous attempt failed: tests/test_reset.py::test_expiry failed" in text


class MemorySection:
    """A stand-in for the later memories feature: the seam is just another provider."""

    title = "What earlier agents learned"

    def render(self, ctx):
        return f"- Tickets in `{ctx.project.name}` keep e-mail templates in templates/mail/."


def test_extra_sections_plug_in_after_the_defaults(uow, ticket):
    task = QueueService(uow).create_task(ticket.id, "PHASE_DESIGN", "Design it")
    text = InstructionService(uow, sections=[*DEFAULT_SECTIONS, MemorySection()]).build_instructions(task.id)
    assert text.index("## Tools you may use") < text.index("## What earlier agents learned")
    assert "templates/mail/" in text
    plain = InstructionService(uow).build_instructions(task.id)
    assert "What earlier agents learned" not in plain


def test_unknown_task_is_not_found(uow, project):
    with pytest.raises(NotFound):
        build_instructions(uow, 999)


def test_discovery_and_validator_feedback_explain_the_task_golden(uow, ticket):
    from phaseloom.db.models import ValidationReview
    from phaseloom.services.discovery import DiscoveryService

    queue = QueueService(uow)
    source = queue.create_task(ticket.id, "PHASE_TESTING", "Run the suite")
    found = DiscoveryService(uow).record_discovery(source.id, "bug_found", "Reset links never expire.",
                                                   spawn_phase_id="PHASE_IMPLEMENTATION")
    fix_id = found.spawned_task_ids[0]
    validator = queue.create_task(ticket.id, "PHASE_IMPLEMENTATION", "Validate fix", task_type="validation")
    with uow:  # a finished review round, as the validation feature stores it
        uow.session.add(ValidationReview(
            project_id=ticket.project_id, ticket_id=ticket.id, phase_id="PHASE_IMPLEMENTATION", task_id=fix_id,
            validator_task_id=validator.id, iteration=1, state="needs_work",
            feedback="The expiry is checked in minutes, not hours."))
    text = build_instructions(uow, fix_id)
    assert_golden("instructions_discovery_feedback.md", text)
    assert "**Discovery (bug_found)** from task 1 in PHASE_TESTING: Reset links never expire." in text
    assert "needs work):** The expiry is checked in minutes" in text
    assert "Why this task exists" not in build_instructions(uow, source.id)
