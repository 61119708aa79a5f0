"""Use-cases, one module per capability. Each service is a small class around a UnitOfWork.

The public face: ``from phaseloom.services import TicketService`` names any use-case below. The
names are resolved on first use (PEP 562), so importing the package costs nothing and a command
that needs one service never imports the others (the CLI's read commands stay fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
    "McpPolicyService": "mcp_policies",
    "MemoryService": "memory",
    "PhaseService": "phases",
    "ProgressService": "progress",
    "ProjectService": "projects",
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


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from phaseloom.services.agent_work import AgentWorkService as AgentWorkService
    from phaseloom.services.agents import AgentService as AgentService
    from phaseloom.services.artifacts import ArtifactService as ArtifactService
    from phaseloom.services.auth import AuthService as AuthService
    from phaseloom.services.baselines import BaselineService as BaselineService
    from phaseloom.services.board import BoardService as BoardService
    from phaseloom.services.budgets import BudgetService as BudgetService
    from phaseloom.services.costs import CostService as CostService
    from phaseloom.services.dashboard import DashboardService as DashboardService
    from phaseloom.services.diagnostics import DiagnosticsService as DiagnosticsService
    from phaseloom.services.discovery import DiscoveryService as DiscoveryService
    from phaseloom.services.gates import GateService as GateService
    from phaseloom.services.graph import GraphService as GraphService
    from phaseloom.services.guardian import GuardianService as GuardianService
    from phaseloom.services.guardian import GuardianRecords as GuardianRecords
    from phaseloom.services.instructions import InstructionService as InstructionService
    from phaseloom.services.launches import LaunchService as LaunchService
    from phaseloom.services.mcp_policies import McpPolicyService as McpPolicyService
    from phaseloom.services.memory import MemoryService as MemoryService
    from phaseloom.services.phases import PhaseService as PhaseService
    from phaseloom.services.progress import ProgressService as ProgressService
    from phaseloom.services.projects import ProjectService as ProjectService
    from phaseloom.services.stats import StatsService as StatsService
    from phaseloom.services.ticket_comments import TicketCommentService as TicketCommentService
    from phaseloom.services.tickets import TicketService as TicketService
    from phaseloom.services.workflows import WorkflowService as WorkflowService
