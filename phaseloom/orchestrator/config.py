"""What an orchestrator is told: its pools of agents and its settings (plain values, no behaviour)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from phaseloom.config import Settings


@dataclass(frozen=True)
class PoolSpec:
    """``size`` agents specialised in ``phase_id`` (None: any phase), with these capabilities."""

    name: str
    size: int = 1
    phase_id: str | None = None
    capabilities: tuple[str, ...] = ()
    agent_type: str = "worker"
    runtime: str = "scripted"


DEFAULT_POOLS = (PoolSpec("worker", size=2), PoolSpec("validator", size=1, agent_type="validator",
                                                      capabilities=("validation",)))


@dataclass
class OrchestratorConfig:
    pools: tuple[PoolSpec, ...] = DEFAULT_POOLS
    project_id: int | None = None
    poll_seconds: float = 0.2
    # Lease reaping, timeouts and silent agents are looked for at most this often, not on every
    # tick (a tick follows each finished task); each look is a write transaction on SQLite.
    housekeeping_seconds: float = 1.0
    lease_seconds: float = 300.0
    stale_agent_seconds: float = 120.0
    grace_seconds: float = 30.0
    diagnose_every_seconds: float = 300.0  # 0: never look for stuck tickets from the loop
    guardian_interval_seconds: float | None = None  # None: from settings (below); 0: no Guardian rounds
    manage_tickets: bool = True
    memory_semantic: bool = True  # False: instructions preload memories found by words only (no model load)
    workspace_root: Path | None = None
    log_dir: Path = Path(".phaseloom/logs")
    api_url: str = ""
    mcp_url: str = ""
    host: str = field(default_factory=socket.gethostname)
    check_mcp: bool = True  # check once, before the first claim, that MCP agents can reach phaseloom's MCP
    rate_limit_pause_seconds: float = 30.0  # a pool's pause after a rate limit that named no reset time
    # The process is the orchestrator's own (``run``, ``worker``): what it holds once started (modules,
    # mappers, the workflow) is moved out of the garbage collector's sight. Without that, its full
    # collections re-scan those objects again and again: ~20 ms of CPU a task, measured.
    freeze_heap: bool = False
    # What the services the loop calls are configured with: the pricing of usage, the Guardian's judge
    # and interval. The CLI passes its own; left out, they are read from the environment here, once.
    settings: Settings = field(default_factory=Settings)



