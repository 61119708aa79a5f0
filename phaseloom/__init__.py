"""phaseloom: run teams of AI coding agents through structured and free-form phases.

The public, code-first API lives here: build a workflow in Python with
:class:`Phase` and :class:`Workflow` and load it with ``phaseloom workflow load file.py``.
"""

from phaseloom.schemas.workflow import (
    BoardColumnSpec as BoardColumn,
    ExpectedOutputSpec as ExpectedOutput,
    PhaseSpec as Phase,
    WorkflowDocument as Workflow,
)

__all__ = ["Phase", "Workflow", "BoardColumn", "ExpectedOutput", "__version__"]
__version__ = "0.1.0"
