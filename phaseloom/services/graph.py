"""The workflow graph of a ticket or a project: tasks as nodes; dependencies, discoveries and
phase progression as edges. :func:`to_dot` and :func:`to_mermaid` render the same dict as text.

Phase progression edges follow the ticket's phase history: for each move from phase A to B,
the last task of A created before the move points to the first task of B created after it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from phaseloom.db.models import PhaseHistory, Task, TaskDependency, Ticket
from phaseloom.db.models.gates import TaskDiscovery
from phaseloom.domain.errors import InvalidInput, NotFound
from phaseloom.db.unit_of_work import UnitOfWork

MAX_NODES = 5000


class GraphService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def workflow_graph(self, ticket_id: int | None = None, project_id: int | str | None = None) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [...]}``, JSON-ready, for one ticket or a whole project."""
        if (ticket_id is None) == (project_id is None):
            raise InvalidInput("give a ticket or a project (exactly one)")
        with self.uow:
            session = self.uow.session
            if ticket_id is not None:
                if session.get(Ticket, int(ticket_id)) is None:
                    raise NotFound("ticket", ticket_id)
                ticket_ids = [int(ticket_id)]
            else:
                from phaseloom.services.projects import ProjectService

                project = ProjectService(self.uow).get(project_id)  # type: ignore[arg-type]
                ticket_ids = list(session.scalars(select(Ticket.id).where(Ticket.project_id == project.id)))
            tasks = list(session.scalars(select(Task).where(Task.ticket_id.in_(ticket_ids))
                                         .order_by(Task.id).limit(MAX_NODES)))
            ids = {t.id for t in tasks}
            edges = self._dependency_edges(ids) + self._discovery_edges(ticket_ids, ids)
            edges += self._progression_edges(ticket_ids, tasks)
            return {"nodes": [_node(t) for t in tasks], "edges": edges, "truncated": len(tasks) >= MAX_NODES}

    def _dependency_edges(self, ids: set[int]) -> list[dict[str, Any]]:
        rows = self.uow.session.execute(select(TaskDependency.depends_on_id, TaskDependency.task_id)
                                        .where(TaskDependency.task_id.in_(ids))).all()
        return [_edge(src, dst, "dependency") for src, dst in sorted(rows) if src in ids]

    def _discovery_edges(self, ticket_ids: list[int], ids: set[int]) -> list[dict[str, Any]]:
        edges = []
        for d in self.uow.session.scalars(select(TaskDiscovery).where(TaskDiscovery.ticket_id.in_(ticket_ids))
                                          .order_by(TaskDiscovery.id)):
            for spawned in d.spawned_task_ids or []:
                if d.source_task_id in ids and spawned in ids:
                    edges.append(_edge(d.source_task_id, spawned, "discovery", discovery_type=d.discovery_type,
                                       discovery_id=d.id, label=d.discovery_type))
        return edges

    def _progression_edges(self, ticket_ids: list[int], tasks: list[Task]) -> list[dict[str, Any]]:
        history = self.uow.session.scalars(select(PhaseHistory).where(
            PhaseHistory.ticket_id.in_(ticket_ids), PhaseHistory.from_phase_id.is_not(None))
            .order_by(PhaseHistory.id)).all()
        by_ticket: dict[int, list[Task]] = {}
        for task in tasks:
            by_ticket.setdefault(task.ticket_id, []).append(task)
        edges = []
        for move in history:
            mine = by_ticket.get(move.ticket_id, [])
            before = [t for t in mine if t.phase_id == move.from_phase_id and t.created_at <= move.created_at]
            after = [t for t in mine if t.phase_id == move.to_phase_id and t.created_at >= move.created_at]
            if before and after:
                edges.append(_edge(before[-1].id, after[0].id, "phase", label=f"{move.from_phase_id} → "
                                   f"{move.to_phase_id}", from_phase=move.from_phase_id, to_phase=move.to_phase_id))
        return edges


def _node(task: Task) -> dict[str, Any]:
    return {"id": f"task:{task.id}", "task_id": task.id, "ticket_id": task.ticket_id, "title": task.title,
            "phase_id": task.phase_id, "status": task.status, "agent": task.assigned_agent_id,
            "priority": task.priority, "task_type": task.task_type}


def _edge(source: int, target: int, kind: str, **extra: Any) -> dict[str, Any]:
    return {"source": f"task:{source}", "target": f"task:{target}", "type": kind, **extra}


# -- rendering ----------------------------------------------------------------------
def _label(node: dict[str, Any]) -> str:
    agent = f" @{node['agent']}" if node.get("agent") else ""
    return f"#{node['task_id']} {node['title'][:60]}\n{node['status']}{agent}"


def to_dot(graph: dict[str, Any]) -> str:
    """Graphviz DOT, one cluster per phase."""
    lines = ["digraph workflow {", "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for node in graph["nodes"]:
        by_phase.setdefault(node["phase_id"], []).append(node)
    for i, (phase, nodes) in enumerate(by_phase.items()):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={json.dumps(phase)};")
        lines.extend(f"    {json.dumps(n['id'])} [label={json.dumps(_label(n))}];" for n in nodes)
        lines.append("  }")
    styles = {"dependency": "", "discovery": "style=dashed, color=red", "phase": "style=bold"}
    for edge in graph["edges"]:
        attrs = [styles[edge["type"]]] if styles[edge["type"]] else []
        if edge.get("label"):
            attrs.append(f"label={json.dumps(edge['label'])}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {json.dumps(edge['source'])} -> {json.dumps(edge['target'])}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str) -> str:
    return node_id.replace(":", "_")


def _mermaid_text(text: str) -> str:
    # Mermaid has no backslash escapes inside quoted labels; HTML entities are what it understands.
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "&#124;").replace("\n", "<br/>"))


def to_mermaid(graph: dict[str, Any]) -> str:
    """A Mermaid flowchart, one subgraph per phase."""
    lines = ["flowchart LR"]
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for node in graph["nodes"]:
        by_phase.setdefault(node["phase_id"], []).append(node)
    for phase, nodes in by_phase.items():
        lines.append(f'  subgraph {_mermaid_id(phase)}["{_mermaid_text(phase)}"]')
        lines.extend(f'    {_mermaid_id(n["id"])}["{_mermaid_text(_label(n))}"]' for n in nodes)
        lines.append("  end")
    arrows = {"dependency": "-->", "discovery": "-.->", "phase": "==>"}
    for edge in graph["edges"]:
        label = f"|{_mermaid_text(edge['label'])}|" if edge.get("label") else ""
        lines.append(f"  {_mermaid_id(edge['source'])} {arrows[edge['type']]}{label} {_mermaid_id(edge['target'])}")
    return "\n".join(lines) + "\n"
