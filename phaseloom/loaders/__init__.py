"""Turn workflow sources (YAML files, Hephaestus phase folders, Python files) into a WorkflowDocument."""

from phaseloom.loaders.sources import load_workflow_source

__all__ = ["load_workflow_source"]
