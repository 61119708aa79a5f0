"""Which runtime a pool's agents use, built from configuration."""

from __future__ import annotations

import os
from collections.abc import Callable

from phaseloom.db.engine import Database
from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.config import PoolSpec
from phaseloom.runtimes.base import Runtime


def validate_runtime_names(pools) -> None:
    """Refuse an unknown runtime or preset name before anything is registered or claimed."""
    from phaseloom.runtimes.presets import preset

    for spec in pools:
        kind, _, detail = spec.runtime.partition(":")
        if kind not in ("scripted", "command", "openai"):
            raise InvalidInput(f"unknown runtime {spec.runtime!r}; use scripted, command (with --agent-command), "
                               "command:<preset> or openai")
        if kind == "command" and detail:
            preset(detail)


def runtime_factory(db: Database, *, plan=None, command: str | None = None) -> Callable[[PoolSpec], Runtime]:
    """A function giving each pool its runtime.

    ``scripted`` uses ``plan``; ``command`` uses ``command`` (an argv template) or, for a runtime
    named ``command:<preset>``, that preset; ``openai`` reads ``PHASELOOM_OPENAI_BASE_URL``,
    ``PHASELOOM_OPENAI_MODEL`` and ``PHASELOOM_OPENAI_API_KEY``.
    """

    def build(spec: PoolSpec) -> Runtime:
        kind, _, detail = spec.runtime.partition(":")
        if kind == "scripted":
            from phaseloom.runtimes.scripted import ScriptedRuntime

            return ScriptedRuntime(db, plan)
        if kind == "command":
            from phaseloom.runtimes.command import CommandRuntime

            return CommandRuntime(preset_name=detail) if detail else CommandRuntime(command)
        if kind == "openai":
            from phaseloom.runtimes.openai import OpenAIRuntime

            base = os.environ.get("PHASELOOM_OPENAI_BASE_URL", "")
            model = os.environ.get("PHASELOOM_OPENAI_MODEL", "")
            if not base or not model:
                raise InvalidInput("the openai runtime needs PHASELOOM_OPENAI_BASE_URL and PHASELOOM_OPENAI_MODEL")
            return OpenAIRuntime(db, base_url=base, model=model,
                                 api_key=os.environ.get("PHASELOOM_OPENAI_API_KEY", ""))
        raise InvalidInput(f"unknown runtime {spec.runtime!r}; use scripted, command[:preset] or openai")

    return build


def runtime_from_setting(setting) -> Runtime:
    """The runtime a workflow file asks for: ``"command:<preset>"`` or ``{"command": <argv template>}``.

    Declared per phase (``configuration.runtime``) or for the whole workflow (``settings.runtime``); it
    wins over the runtime of the pool whose agent claimed the task.
    """
    from phaseloom.runtimes.command import CommandRuntime

    if isinstance(setting, str) and setting.startswith("command:"):
        return CommandRuntime(preset_name=setting.partition(":")[2])
    if isinstance(setting, dict) and set(setting) <= {"command", "env"} and setting.get("command"):
        return CommandRuntime(setting["command"], env=setting.get("env"))
    raise InvalidInput(f"unknown runtime setting {setting!r}: use 'command:<preset>' or "
                       "{command: [argv template…], env: {…}}")


def configured_runtime(workflow, phase_id: str) -> Runtime | None:
    """The runtime the workflow declares for ``phase_id``, or None to use the pool's."""
    setting = workflow.phase(phase_id).configuration.extra.get("runtime") or workflow.settings.get("runtime")
    return runtime_from_setting(setting) if setting else None
