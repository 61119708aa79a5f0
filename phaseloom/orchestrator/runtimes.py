"""Which runtime a pool's agents use, built from configuration."""

from __future__ import annotations

import os
from collections.abc import Callable

from phaseloom.db.engine import Database
from phaseloom.domain.errors import InvalidInput
from phaseloom.orchestrator.loop import PoolSpec
from phaseloom.runtimes.base import Runtime


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

            return CommandRuntime(preset_name=detail) if detail else CommandRuntime(command or "")
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
