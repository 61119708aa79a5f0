"""
Crash Triage Workflow - Python phase definitions (a phaseloom test fixture,
shaped like Hephaestus's example_workflows packages).

Usage:
    from example_workflows.crash_triage_sdk.phases import TRIAGE_PHASES, TRIAGE_WORKFLOW_CONFIG
"""

# Phases live in their own files
from example_workflows.crash_triage_sdk.phase_1_collect_evidence import PHASE_1_COLLECT_EVIDENCE
from example_workflows.crash_triage_sdk.phase_2_explain_crash import PHASE_2_EXPLAIN_CRASH

# Workflow configuration
from example_workflows.crash_triage_sdk.board_config import TRIAGE_WORKFLOW_CONFIG

from src.sdk.models import LaunchTemplate, LaunchParameter

TRIAGE_PHASES = [
    PHASE_1_COLLECT_EVIDENCE,
    PHASE_2_EXPLAIN_CRASH,
]

TRIAGE_LAUNCH_TEMPLATE = LaunchTemplate(
    parameters=[
        LaunchParameter(
            name="crash_title",
            label="Crash Title",
            type="text",
            required=True,
            description="One line: what crashes?",
        ),
        LaunchParameter(
            name="crash_context",
            label="Context",
            type="textarea",
            required=False,
            default="",
            description="Anything that helps reproduce it",
        ),
        LaunchParameter(
            name="severity",
            label="Severity",
            type="dropdown",
            options=["Critical", "High", "Low"],
            default="High",
        ),
        LaunchParameter(
            name="audience",
            label="Who reads the explanation",
            type="select",
            required=False,
            options=["developers", "support"],
        ),
        LaunchParameter(name="attempts", label="Attempts", type="number", required=False, default=3),
        LaunchParameter(name="flaky", label="Flaky?", type="boolean", required=False, default=False),
    ],
    phase_1_task_prompt="""Phase 1: Collect evidence - {crash_title}

**Severity:** {severity}
**Attempts:** {attempts} (flaky: {flaky})

{crash_context}

Keep {braces_that_are_not_parameters} as they are.
""",
)

__all__ = ["TRIAGE_PHASES", "TRIAGE_WORKFLOW_CONFIG", "TRIAGE_LAUNCH_TEMPLATE"]
