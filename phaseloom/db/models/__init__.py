"""SQLAlchemy models. Importing this package registers every table on ``Base.metadata``."""

from phaseloom.db.models.base import Base
from phaseloom.db.models.auth import ApiToken  # noqa: F401
from phaseloom.db.models.costs import Anomaly, Budget, CostRecord  # noqa: F401
from phaseloom.db.models.guardian import GuardianAssessment, SteeringNote  # noqa: F401
from phaseloom.db.models.events import SystemEvent
from phaseloom.db.models.input_requests import TaskInputRequest  # noqa: F401
from phaseloom.db.models.gates import Artifact, DoneDefinitionCheck, GateApproval, GateResult, TaskDiscovery  # noqa: F401,E501
from phaseloom.db.models.mcp import McpPolicyRow, TicketComment  # noqa: F401
from phaseloom.db.models.merge_queue import MergeQueueEntry  # noqa: F401
from phaseloom.db.models.memory import TaskMemory, TaskPreloadedMemory  # noqa: F401
from phaseloom.db.models.recovery import Diagnosis, TaskReview, ValidationReview, WorkflowResult  # noqa: F401
from phaseloom.db.models.resources import RunResources  # noqa: F401
from phaseloom.db.models.tasks import Agent, Task, TaskCapability, TaskDependency, TaskPath
from phaseloom.db.models.tickets import PhaseHistory, Project, Ticket, TicketDependency
from phaseloom.db.models.workflows import BoardColumnRow, PhaseRow, WorkflowRow

__all__ = [
    "Base",
    "WorkflowRow",
    "PhaseRow",
    "BoardColumnRow",
    "Project",
    "Ticket",
    "TicketDependency",
    "PhaseHistory",
    "Task",
    "TaskDependency",
    "TaskCapability",
    "TaskPath",
    "Agent",
    "SystemEvent",
]
