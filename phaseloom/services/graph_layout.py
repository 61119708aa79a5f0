"""Coordinates for the workflow graph: phases as columns in sequence order, tickets as lanes.

Every ticket gets a horizontal lane of its own, as tall as its busiest phase; lanes are stacked in
ticket id order. Inside a lane, a phase's tasks are ordered by the mean row of the tasks pointing at
them (the barycenter heuristic, phases taken left to right), then by task id. So:

- a progression or dependency edge never leaves its ticket's lane: edges of separate tickets
  cannot cross;
- a node's place depends on ids and edges only, never on the order rows came from the database,
  so it is the same on every load, and a new task of one ticket moves no other ticket's nodes
  sideways (only lanes below a lane that grows move down, as a whole).

The result is pixel coordinates the web UI draws as SVG as they are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from phaseloom.domain.phases import Workflow

# Eight phases (the shipped workflow, BLOCKED included) fit the graph's width at 1,400 px.
COLUMN_WIDTH = 160
ROW_HEIGHT = 60
LANE_GAP = 16  # extra space between two tickets' lanes
MARGIN_X = 24
MARGIN_Y = 56
NODE_WIDTH = 144
NODE_HEIGHT = 42


def phase_columns(workflow: Workflow) -> list[dict[str, Any]]:
    """One column per phase of ``workflow``, in sequence order, with its left edge in pixels."""
    return [{"phase_id": p.id, "name": p.name, "index": i, "x": MARGIN_X + i * COLUMN_WIDTH}
            for i, p in enumerate(workflow.ordered_phases)]


def layout_graph(graph: dict[str, Any], workflow: Workflow) -> dict[str, Any]:
    """``graph`` (from :class:`GraphService`) with ``x``/``y`` on each node, the lanes and the canvas size.

    Nodes of a phase the workflow does not know (a phase removed later) go in a last column.
    """
    columns = phase_columns(workflow)
    layer_of = {c["phase_id"]: c["index"] for c in columns}
    spare = len(columns)

    def layer(node: dict[str, Any]) -> int:
        return layer_of.get(node["phase_id"], spare)

    rows = _rows_in_lanes(graph, layer)
    lanes, top = [], MARGIN_Y
    for ticket_id, height in _lane_heights(graph, rows):
        lanes.append({"ticket_id": ticket_id, "y": top, "height": height * ROW_HEIGHT})
        top += height * ROW_HEIGHT + LANE_GAP
    lane_top = {lane["ticket_id"]: lane["y"] for lane in lanes}
    for node in graph["nodes"]:
        node["x"] = MARGIN_X + layer(node) * COLUMN_WIDTH + (COLUMN_WIDTH - NODE_WIDTH) // 2 - 4
        node["y"] = lane_top[node["ticket_id"]] + rows[node["id"]] * ROW_HEIGHT
    used_layers = max((layer(n) for n in graph["nodes"]), default=0) + 1
    bottom = top - LANE_GAP if lanes else MARGIN_Y + ROW_HEIGHT
    return {**graph, "columns": columns, "lanes": lanes, "column_width": COLUMN_WIDTH,
            "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT,
            "width": MARGIN_X * 2 + max(len(columns), used_layers) * COLUMN_WIDTH,
            "height": bottom + MARGIN_Y}


def _rows_in_lanes(graph: dict[str, Any], layer) -> dict[str, int]:
    """Each node's row inside its ticket's lane: per phase, by the barycenter of its predecessors, then id."""
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in graph["edges"]:
        incoming[edge["target"]].append(edge["source"])
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for node in graph["nodes"]:
        groups[(node["ticket_id"], layer(node))].append(node)
    rows: dict[str, int] = {}
    for key in sorted(groups):  # ticket, then phases left to right: predecessors are placed first
        def barycenter(node: dict[str, Any]) -> float:
            placed = sorted(rows[s] for s in incoming.get(node["id"], ()) if s in rows)
            return sum(placed) / len(placed) if placed else float("inf")

        ordered = sorted(groups[key], key=lambda n: (barycenter(n), n["task_id"]))
        rows.update((node["id"], row) for row, node in enumerate(ordered))
    return rows


def _lane_heights(graph: dict[str, Any], rows: dict[str, int]) -> list[tuple[int, int]]:
    """``(ticket id, rows in its lane)`` in ticket id order."""
    height: dict[int, int] = {}
    for node in graph["nodes"]:
        height[node["ticket_id"]] = max(height.get(node["ticket_id"], 0), rows[node["id"]] + 1)
    return sorted(height.items())
