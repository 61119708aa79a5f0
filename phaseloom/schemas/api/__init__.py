"""Request and response bodies of the HTTP API, one module per resource (as in ``phaseloom.api.routers``).

The names are re-exported here so that ``from phaseloom.schemas.api import TicketOut`` keeps working;
code inside phaseloom imports from the resource's own module (``phaseloom.schemas.api.tickets``) and
from ``phaseloom.schemas.api.common`` for the shared pieces (ids, pages, the error body).
"""

from phaseloom.schemas.api.agents import AgentOut, AgentRegister, AgentRegistered
from phaseloom.schemas.api.artifacts import ArtifactOut
from phaseloom.schemas.api.board import BoardMove, BoardOut, ColumnOut
from phaseloom.schemas.api.common import (
    MAX_ID, MAX_PAGE, ErrorBody, ErrorDetail, Id, LongText, Page, PhaseId, ShortText, Text, page_of,
)
from phaseloom.schemas.api.discoveries import DiscoveryCreate, DiscoveryOut
from phaseloom.schemas.api.gates import ChecklistItemOut, GateResultOut, GateStatusOut
from phaseloom.schemas.api.phases import PhaseCreate, PhaseOut, PhaseUpdate
from phaseloom.schemas.api.projects import ProjectCreate, ProjectOut
from phaseloom.schemas.api.tasks import (
    ClaimOut, LeaseSeconds, TaskClaim, TaskComplete, TaskCreate, TaskFail, TaskHeartbeat, TaskOut,
)
from phaseloom.schemas.api.tickets import (
    HistoryOut, TicketBlock, TicketCreate, TicketOut, TicketTransition, TicketUnblock,
)
from phaseloom.schemas.api.workflows import BoardColumnOut, LoadOutcomeOut, WorkflowOut, WorkflowSummaryOut

__all__ = [
    "MAX_ID", "MAX_PAGE", "Id", "LongText", "PhaseId", "ShortText", "Text", "Page", "page_of",
    "ErrorBody", "ErrorDetail",
    "AgentOut", "AgentRegister", "AgentRegistered",
    "ArtifactOut",
    "BoardMove", "BoardOut", "ColumnOut",
    "DiscoveryCreate", "DiscoveryOut",
    "ChecklistItemOut", "GateResultOut", "GateStatusOut",
    "PhaseCreate", "PhaseOut", "PhaseUpdate",
    "ProjectCreate", "ProjectOut",
    "ClaimOut", "LeaseSeconds", "TaskClaim", "TaskComplete", "TaskCreate", "TaskFail", "TaskHeartbeat", "TaskOut",
    "HistoryOut", "TicketBlock", "TicketCreate", "TicketOut", "TicketTransition", "TicketUnblock",
    "BoardColumnOut", "LoadOutcomeOut", "WorkflowOut", "WorkflowSummaryOut",
]
