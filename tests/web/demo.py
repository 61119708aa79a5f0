"""A small demo board built through the services, and a real server for the browser tests."""

from __future__ import annotations

from dataclasses import dataclass


from phaseloom.api.app import create_app
from phaseloom.config import Settings
from phaseloom.db.engine import Database
from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.services.agents import AgentService
from phaseloom.services.auth import AuthService
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.projects import ProjectService
from phaseloom.queue import QueueService
from phaseloom.services.tickets import TicketService
from phaseloom.db.unit_of_work import UnitOfWork
from phaseloom.services.workflows import WorkflowService
from tests.api.live_server import ThreadedServer


@dataclass
class Demo:
    admin_token: str
    project_id: int
    testing_ticket: int   # in PHASE_TESTING ("testing" column), with a discovery back to implementation
    backlog_ticket: int   # in PHASE_BACKLOG ("backlog" column)
    running_task: int     # claimed by agent "ana", in the testing ticket
    spawned_task: int     # spawned by the discovery in PHASE_IMPLEMENTATION


def seed_demo(db: Database) -> Demo:
    """Two tickets in different phases, a few tasks with a dependency, an agent and a bug discovery."""
    uow = UnitOfWork(db)
    WorkflowService(uow).save_document(load_workflow_source(shipped_workflow("software_development")))
    project = ProjectService(uow).create_project("demo", "software_development")
    tickets, queue = TicketService(uow), QueueService(uow)
    login = tickets.create_ticket("demo", "Login page", priority="HIGH")
    search = tickets.create_ticket("demo", "Search box", priority="LOW")
    requirements = queue.create_task(login.id, "PHASE_REQUIREMENTS", "Write login requirements")
    for phase in ("PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION"):
        tickets.transition(login.id, phase)
    design = queue.create_task(login.id, "PHASE_DESIGN", "Design the login form", depends_on=[requirements.id])
    build = queue.create_task(login.id, "PHASE_IMPLEMENTATION", "Build the login form", depends_on=[design.id])
    tickets.transition(login.id, "PHASE_TESTING")
    test = queue.create_task(login.id, "PHASE_TESTING", "Test the login form", depends_on=[build.id])
    AgentService(uow).register_agent("ana", agent_id="ana", project_id=project.id)
    for expected in (requirements.id, design.id, build.id):  # dependencies make them ready one by one
        done = queue.claim_next_task("ana")
        assert done is not None and done.id == expected
        queue.complete_task(done.id, "ana", {"summary": f"finished {done.title}"})
    claimed = queue.claim_next_task("ana")
    assert claimed is not None and claimed.id == test.id
    discovery = DiscoveryService(uow).record_discovery(
        test.id, "bug_found", "Password field accepts empty input", spawn_phase_id="PHASE_IMPLEMENTATION")
    admin = AuthService(uow).create_admin_token(label="web tests")
    return Demo(admin, project.id, login.id, search.id, test.id, discovery.spawned_task_ids[0])


def ui_server(db: Database) -> ThreadedServer:
    """``create_app`` served by uvicorn on 127.0.0.1 in a background thread."""
    return ThreadedServer(create_app(db, Settings(database_url=db.url, ws_heartbeat_seconds=5)))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


LONG_TITLE = "Export the monthly usage report as CSV with per-team totals and a summary sheet"


def seed_screens(db: Database) -> Demo:
    """The demo, plus a ticket with a long title and tasks of its own: two lanes in the graph."""
    demo = seed_demo(db)
    uow = UnitOfWork(db)
    tickets, queue = TicketService(uow), QueueService(uow)
    export = tickets.create_ticket("demo", LONG_TITLE, priority="MEDIUM")
    tickets.transition(export.id, "PHASE_REQUIREMENTS")
    first = queue.create_task(export.id, "PHASE_REQUIREMENTS", "List the report's columns and the teams it covers")
    tickets.transition(export.id, "PHASE_DESIGN")
    queue.create_task(export.id, "PHASE_DESIGN", "Design the CSV layout and the summary sheet", depends_on=[first.id])
    queue.create_task(export.id, "PHASE_DESIGN", "Decide how totals round")
    return demo
