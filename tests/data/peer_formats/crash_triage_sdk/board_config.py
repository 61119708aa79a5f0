"""
Board configuration for the crash triage workflow (a phaseloom test fixture).
"""

from src.sdk.models import WorkflowConfig

TRIAGE_WORKFLOW_CONFIG = WorkflowConfig(
    has_result=True,
    enable_tickets=True,  # tickets on the Kanban board
    board_config={
        "columns": [
            {"id": "reported", "name": "📥 Reported", "order": 1, "color": "#94a3b8"},
            {"id": "triaging", "name": "🔎 Triaging", "order": 2, "color": "#f59e0b"},
            {"id": "explained", "name": "✅ Explained", "order": 3, "color": "#22c55e"},
        ],
        "ticket_types": ["crash", "hang"],
        "default_ticket_type": "crash",
        "initial_status": "reported",
        "auto_assign": True,
    },
    result_criteria="""A crash is explained when:
1. a script reproduces it on a clean checkout
2. the explanation names the faulty function and line
""",
    on_result_found="complete",  # Hephaestus acts on stop_all only
)
