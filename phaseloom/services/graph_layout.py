"""Coordinates for the workflow graph: phases as columns in sequence order, tasks as nodes.

The layout is networkx's layered ``multipartite_layout`` (one layer per phase). Within a
phase, nodes are ordered by ticket and by the mean position of the nodes pointing at them,
so edges between neighbouring phases cross less. The result is pixel coordinates the web
UI draws as SVG as they are.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from phaseloom.domain.phases import Workflow

COLUMN_WIDTH = 240
ROW_HEIGHT = 64
MARGIN_X = 24
MARGIN_Y = 56
NODE_WIDTH = 190
NODE_HEIGHT = 44


def phase_columns(workflow: Workflow) -> list[dict[str, Any]]:
    """One column per phase of ``workflow``, in sequence order, with its left edge in pixels."""
    return [{"phase_id": p.id, "name": p.name, "index": i, "x": MARGIN_X + i * COLUMN_WIDTH}
            for i, p in enumerate(workflow.ordered_phases)]


def layout_graph(graph: dict[str, Any], workflow: Workflow) -> dict[str, Any]:
    """``graph`` (from :class:`GraphService`) with ``x``/``y`` on each node and the canvas size.

    Nodes of a phase the workflow does not know (a phase removed later) go in a last column.
    """
    columns = phase_columns(workflow)
    layer_of = {c["phase_id"]: c["index"] for c in columns}
    spare = len(columns)
    digraph = nx.DiGraph()
    for node in _ordered_nodes(graph, layer_of):
        digraph.add_node(node["id"], layer=layer_of.get(node["phase_id"], spare))
    digraph.add_edges_from((e["source"], e["target"]) for e in graph["edges"]
                           if e["source"] in digraph and e["target"] in digraph)
    rows = _rows_per_layer(digraph)
    for node in graph["nodes"]:
        layer = digraph.nodes[node["id"]]["layer"]
        node["x"] = MARGIN_X + layer * COLUMN_WIDTH + (COLUMN_WIDTH - NODE_WIDTH) // 2 - 8
        node["y"] = MARGIN_Y + rows[node["id"]] * ROW_HEIGHT
    tallest = max((rows[n] for n in rows), default=0) + 1
    used_layers = max((digraph.nodes[n]["layer"] for n in digraph), default=0) + 1
    return {**graph, "columns": columns, "node_width": NODE_WIDTH, "node_height": NODE_HEIGHT,
            "width": MARGIN_X * 2 + max(len(columns), used_layers) * COLUMN_WIDTH,
            "height": MARGIN_Y + tallest * ROW_HEIGHT + MARGIN_Y}


def _ordered_nodes(graph: dict[str, Any], layer_of: dict[str, int]) -> list[dict[str, Any]]:
    """Nodes by layer, then by the mean layer-row of their predecessors (the barycenter heuristic)."""
    incoming: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        incoming.setdefault(edge["target"], []).append(edge["source"])
    nodes = sorted(graph["nodes"], key=lambda n: (layer_of.get(n["phase_id"], len(layer_of)), n["ticket_id"],
                                                  n["task_id"]))
    position = {n["id"]: i for i, n in enumerate(nodes)}

    def barycenter(node: dict[str, Any]) -> float:
        sources = [position[s] for s in incoming.get(node["id"], ()) if s in position]
        return sum(sources) / len(sources) if sources else position[node["id"]]

    return sorted(nodes, key=lambda n: (layer_of.get(n["phase_id"], len(layer_of)), n["ticket_id"],
                                        barycenter(n)))


def _rows_per_layer(digraph: nx.DiGraph) -> dict[str, int]:
    """Each node's row in its column, read back from networkx's layered layout."""
    if digraph.number_of_nodes() == 0:
        return {}
    positions = nx.multipartite_layout(digraph, subset_key="layer", align="vertical")
    by_layer: dict[int, list[str]] = {}
    for node, layer in digraph.nodes(data="layer"):
        by_layer.setdefault(layer, []).append(node)
    rows = {}
    for members in by_layer.values():
        # multipartite_layout spreads a layer evenly along y in insertion order; rank by it.
        for row, node in enumerate(sorted(members, key=lambda n: positions[n][1])):
            rows[node] = row
    return rows
