# Written for phaseloom's tests in the shape of a Hephaestus SDK workflow package.
#
# Usage (in Hephaestus):
#     from example_workflows.crash_triage_sdk.phases import (
#         TRIAGE_PHASES, TRIAGE_WORKFLOW_CONFIG, TRIAGE_LAUNCH_TEMPLATE)

from example_workflows.crash_triage_sdk.phases import (
    TRIAGE_PHASES,
    TRIAGE_WORKFLOW_CONFIG,
    TRIAGE_LAUNCH_TEMPLATE,
)

__all__ = ["TRIAGE_PHASES", "TRIAGE_WORKFLOW_CONFIG", "TRIAGE_LAUNCH_TEMPLATE"]
