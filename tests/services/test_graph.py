"""The workflow graph: nodes and the three kinds of edges, as JSON, DOT and Mermaid."""

from __future__ import annotations

import json

import pytest

from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.services.discovery import DiscoveryService
from phaseloom.services.graph import GraphService, to_dot, to_mermaid
from phaseloom.services.progress import ProgressService
from phaseloom.queue import QueueService
from tests.services.gate_support import finish_phase_tasks, ticket_in


@pytest.fixture
def graph_ticket(uow, project):
    progress = ProgressService(uow)
    ticket_id = ticket_in(uow, project)
    backlog = progress.start_ticket(ticket_id)[0]
    finish_phase_tasks(uow, ticket_id, "PHASE_BACKLOG")
    requirements = QueueService(uow).get(progress.check_and_progress(ticket_id).queued_task_ids[0])
    follow_up = QueueService(uow).create_task(ticket_id, "PHASE_REQUIREMENTS", 'Review "edge" cases',
                                              depends_on=[requirements.id])
    discovery = DiscoveryService(uow).record_discovery(requirements.id, "new_component", "needs a session store",
                                                       "PHASE_DESIGN")
    return ticket_id, backlog.id, requirements.id, follow_up.id, discovery.spawned_task_ids[0]


def test_nodes_and_edges(uow, graph_ticket):
    ticket_id, backlog, requirements, follow_up, spawned = graph_ticket
    graph = GraphService(uow).workflow_graph(ticket_id=ticket_id)
    json.dumps(graph)  # JSON-ready
    nodes = {n["task_id"]: n for n in graph["nodes"]}
    assert set(nodes) == {backlog, requirements, follow_up, spawned}
    assert (nodes[backlog]["phase_id"], nodes[backlog]["status"], nodes[backlog]["agent"]) == \
        ("PHASE_BACKLOG", "completed", "finisher-phase_backlog")
    assert nodes[spawned]["phase_id"] == "PHASE_DESIGN"
    edges = {(e["source"], e["target"], e["type"]) for e in graph["edges"]}
    assert edges == {
        (f"task:{requirements}", f"task:{follow_up}", "dependency"),
        (f"task:{requirements}", f"task:{spawned}", "discovery"),
        (f"task:{backlog}", f"task:{requirements}", "phase"),
    }
    discovery_edge = next(e for e in graph["edges"] if e["type"] == "discovery")
    assert discovery_edge["discovery_type"] == "new_component"


def test_project_graph_spans_tickets(uow, project, graph_ticket):
    other = ticket_in(uow, project, title="other")
    ProgressService(uow).start_ticket(other)
    graph = GraphService(uow).workflow_graph(project_id="demo")
    assert {n["ticket_id"] for n in graph["nodes"]} == {graph_ticket[0], other}
    with pytest.raises(InvalidInput, match="exactly one"):
        GraphService(uow).workflow_graph()
    with pytest.raises(NotFound):
        GraphService(uow).workflow_graph(ticket_id=424242)


def test_dot_and_mermaid_text(uow, graph_ticket):
    ticket_id, backlog, requirements, follow_up, spawned = graph_ticket
    graph = GraphService(uow).workflow_graph(ticket_id=ticket_id)
    dot = to_dot(graph)
    assert dot.startswith("digraph workflow {") and dot.rstrip().endswith("}")
    assert f'"task:{requirements}" -> "task:{spawned}" [style=dashed, color=red, label="new_component"];' in dot
    assert 'label="PHASE_DESIGN";' in dot
    assert '\\"edge\\" cases' in dot  # quotes in titles are escaped
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart LR\n")
    assert f"task_{requirements} -.->|new_component| task_{spawned}" in mermaid
    assert f"task_{backlog} ==>|PHASE_BACKLOG → PHASE_REQUIREMENTS| task_{requirements}" in mermaid
    assert "&quot;edge&quot; cases" in mermaid
