"""phaseloom: run teams of AI coding agents through structured and free-form phases.

The public, code-first API lives here: build a workflow in Python with
:class:`Phase` and :class:`Workflow` and load it with ``phaseloom workflow load file.py``.
"""

from __future__ import annotations

__all__ = ["Phase", "Workflow", "BoardColumn", "ExpectedOutput", "__version__"]
__version__ = "0.1.0"

# Imported on first use (PEP 562): the schemas pull in pydantic models that cost a tenth of a
# second, and every CLI command imports this package whether it needs them or not.
_PUBLIC = {"Phase": "PhaseSpec", "Workflow": "WorkflowDocument", "BoardColumn": "BoardColumnSpec",
           "ExpectedOutput": "ExpectedOutputSpec"}


def __getattr__(name: str):
    if name in _PUBLIC:
        from phaseloom.schemas import workflow

        return getattr(workflow, _PUBLIC[name])
    raise AttributeError(f"module 'phaseloom' has no attribute {name!r}")
