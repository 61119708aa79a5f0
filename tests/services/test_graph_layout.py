"""The graph layout: one lane per ticket, node places that do not depend on row order."""

from __future__ import annotations

import random

from phaseloom.loaders.sources import load_workflow_source, shipped_workflow
from phaseloom.services.graph_layout import NODE_HEIGHT, layout_graph

PHASES = ["PHASE_REQUIREMENTS", "PHASE_DESIGN", "PHASE_IMPLEMENTATION", "PHASE_TESTING"]


def two_tickets() -> dict:
    """Ticket 1 has a task per phase and two in implementation; ticket 2 skips design."""
    nodes, edges, task_id = [], [], 0

    def task(ticket: int, phase: str) -> str:
        nonlocal task_id
        task_id += 1
        nodes.append({"id": f"task:{task_id}", "task_id": task_id, "ticket_id": ticket, "phase_id": phase,
                      "title": f"t{task_id}", "status": "pending"})
        return f"task:{task_id}"

    for ticket, phases in ((1, PHASES), (2, [PHASES[0], PHASES[2], PHASES[3]])):
        previous = None
        for phase in phases:
            current = task(ticket, phase)
            if previous:
                edges.append({"source": previous, "target": current, "type": "phase"})
            previous = current
    extra = task(1, "PHASE_IMPLEMENTATION")
    edges.append({"source": "task:2", "target": extra, "type": "dependency"})
    return {"nodes": nodes, "edges": edges, "truncated": False}


def places(graph: dict) -> dict[str, tuple[int, int]]:
    workflow = load_workflow_source(shipped_workflow("software_development")).to_domain()
    laid = layout_graph(graph, workflow)
    return {n["id"]: (n["x"], n["y"]) for n in laid["nodes"]}


def test_places_do_not_depend_on_the_order_rows_arrive_in():
    expected = places(two_tickets())
    for seed in range(5):
        shuffled = two_tickets()
        random.Random(seed).shuffle(shuffled["nodes"])
        random.Random(seed).shuffle(shuffled["edges"])
        assert places(shuffled) == expected


def test_each_ticket_has_its_own_lane_so_their_edges_cannot_cross():
    graph = two_tickets()
    at = places(graph)
    ticket_of = {n["id"]: n["ticket_id"] for n in graph["nodes"]}
    lowest_of_first = max(y for node, (_, y) in at.items() if ticket_of[node] == 1) + NODE_HEIGHT
    highest_of_second = min(y for node, (_, y) in at.items() if ticket_of[node] == 2)
    assert lowest_of_first < highest_of_second
    # Ticket 2 has no design task, and its tasks still stay in their lane, not in ticket 1's rows.
    assert len({y for node, (_, y) in at.items() if ticket_of[node] == 2}) == 1
    # A progression edge goes left to right.
    for edge in graph["edges"]:
        if edge["type"] == "phase":
            assert at[edge["source"]][0] < at[edge["target"]][0]


def test_a_new_task_of_a_later_ticket_moves_no_earlier_node():
    before = places(two_tickets())
    grown = two_tickets()
    grown["nodes"].append({"id": "task:99", "task_id": 99, "ticket_id": 2, "phase_id": "PHASE_TESTING",
                           "title": "retest", "status": "pending"})
    after = places(grown)
    assert all(after[node] == place for node, place in before.items())
