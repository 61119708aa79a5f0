"""Settings from the environment (``PHASELOOM_*``) and an optional ``phaseloom.toml``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from phaseloom.settings_defaults import DEFAULT_DATABASE_URL, DEFAULT_LOG_LEVEL, DEFAULT_SQLITE_BUSY_TIMEOUT_MS

__all__ = ["DEFAULT_DATABASE_URL", "ModelPrice", "Settings", "get_settings", "server_environment"]


class ModelPrice(BaseModel):
    """What a model costs, per million tokens; the ``pricing`` key ``default`` covers unlisted models."""

    input_per_million: float = Field(default=0.0, ge=0)
    output_per_million: float = Field(default=0.0, ge=0)


class Settings(BaseSettings):
    """Everything configurable. Environment variables win over ``phaseloom.toml``."""

    model_config = SettingsConfigDict(env_prefix="PHASELOOM_", toml_file="phaseloom.toml", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = DEFAULT_LOG_LEVEL
    aging_seconds: float = Field(default=600.0, gt=0, description="seconds of waiting worth one priority level")
    lease_seconds: float = Field(default=300.0, gt=0, description="how long a claim holds a task without a heartbeat")
    sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS
    memory_semantic: bool = Field(default=True, description="embed memories for semantic search (needs the memory extra)")
    memory_worker_idle_seconds: float = Field(
        default=600.0, ge=0,
        description="CLI memory commands run in a worker that keeps the model loaded and the database open, and exits after this idle time; 0 runs them in each command's own process")
    event_bus: str = Field(default="", description="'' (in-process / LISTEN-NOTIFY) or redis://host:port/db")
    event_poll_seconds: float = Field(default=1.0, gt=0, description="catch-up read of the event table when no bus woke us")
    ws_heartbeat_seconds: float = Field(default=15.0, gt=0, description="idle time before /ws sends a ping")
    ws_queue_size: int = Field(default=1000, ge=10, description="events a /ws client may lag before it is dropped")
    home: Path = Field(default=Path(".phaseloom"), description="folder for logs, workspaces and the SQLite file")
    pricing: dict[str, ModelPrice] = Field(
        default_factory=lambda: {"default": ModelPrice()},
        description="model name -> price per million input/output tokens; 'default' for any other model")
    currency: str = Field(default="USD", description="the currency of pricing, cost records and budgets")
    workspace_retention: str = Field(
        default="7d", pattern=r"^(keep|on_finish|\d+(\.\d+)?[dh])$",
        description="when the worktrees of finished tasks are removed: keep (never), on_finish, or an age "
                    "after the task ended such as 7d or 12h; a worktree holding unsaved work is snapshotted first")
    guardian_interval_seconds: float = Field(default=60.0, ge=0, description="seconds between Guardian rounds; 0 disables")
    guardian_judge_base_url: str = Field(default="", description="OpenAI-compatible endpoint of the Guardian's LLM judge")
    guardian_judge_model: str = Field(default="", description="model the Guardian's LLM judge asks")
    guardian_judge_api_key: str = Field(default="", description="bearer token for the Guardian's judge endpoint")
    mcp_url: str = Field(default="", description="MCP endpoint agents use (a running serve's /mcp); '' launches `phaseloom mcp` over stdio per agent")
    api_url: str = Field(default="", description="URL of a running serve: handed to agents as PHASELOOM_API_URL, "
                         "and `phaseloom memory add|search` go through it (read by cli/memory_server.py)")
    api_token: str = Field(default="", description="bearer token memory commands send to api_url; '' uses "
                           "PHASELOOM_AGENT_TOKEN, then none (read by cli/memory_server.py)")
    agent_env: str = Field(default="", description="comma-separated variable names or globs (e.g. AWS_*) a preset's "
                           "agent CLI gets from the orchestrator's environment besides what its preset reads")
    input_webhook_url: str = Field(default="", description="URL a question of an agent (ask_human) is POSTed to as "
                                   "JSON when its run ends; '' posts nowhere")
    input_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                                 description="how long the input webhook may take to answer")
    mcp_allowed_hosts: str = Field(default="", description="comma-separated Host names /mcp accepts besides the "
                                   "address it is served on (name, name:port, name:*); '*' turns the check off")

    @property
    def workspaces_home(self) -> Path:
        """Where agents' worktrees go when a run names no folder of its own."""
        return self.home / "workspaces"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


# Not handed to an agent's own ``phaseloom mcp``: secrets, what the launch sets itself (the database), and
# what only the orchestrator or a CLI client uses.
_NOT_FOR_THE_SERVER = frozenset({"database_url", "guardian_judge_api_key", "api_token", "api_url", "mcp_url",
                                 "agent_env", "memory_worker_idle_seconds"})


def server_environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``PHASELOOM_*`` variables that give an agent's stdio ``phaseloom mcp`` the same
    settings: it runs in the agent's worktree (no phaseloom.toml there) with the environment its CLI
    passes, which holds none of phaseloom's own variables. Relative paths are made absolute."""
    values = settings.model_dump(mode="json", exclude=set(_NOT_FOR_THE_SERVER))
    values["home"] = str(Path(settings.home).resolve())
    return {f"PHASELOOM_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in values.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
