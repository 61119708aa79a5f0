"""The run loop, worker processes and the demo."""

from phaseloom.orchestrator.loop import DEFAULT_POOLS, Orchestrator, OrchestratorConfig, PoolSpec

__all__ = ["DEFAULT_POOLS", "Orchestrator", "OrchestratorConfig", "PoolSpec"]
