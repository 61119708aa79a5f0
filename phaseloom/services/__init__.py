"""Use-cases, one module per capability. Each service is a small class around a UnitOfWork.

The public face: ``from phaseloom.services import TicketService`` names any use-case below. The
names are resolved on first use (PEP 562), so importing the package costs nothing and a command
that needs one service never imports the others (the CLI's read commands stay fast).
"""

from __future__ import annotations

import importlib

# name -> the module that defines it
_HOMES: dict[str, str] = {
    "AgentWorkService": "agent_work",
    "AgentService": "agents",
    "ArtifactService": "artifacts",
    "AuthService": "auth",
    "BaselineService": "baselines",
    "BoardService": "board",
    "BudgetService": "budgets",
    "CostService": "costs",
    "DashboardService": "dashboard",
    "DiagnosticsService": "diagnostics",
    "DiscoveryService": "discovery",
    "GateService": "gates",
    "GraphService": "graph",
    "GuardianService": "guardian",
    "GuardianRecords": "guardian",
    "InstructionService": "instructions",
    "LaunchService": "launches",
    "MergeQueueService": "merge_queue",
    "McpPolicyService": "mcp_policies",
    "MemoryService": "memory",
    "PhaseService": "phases",
    "ProgressService": "progress",
    "ProjectService": "projects",
    "SnapshotService": "snapshots",
    "StatsService": "stats",
    "TicketCommentService": "ticket_comments",
    "TicketService": "tickets",
    "WorkflowService": "workflows",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)

