"""Which of the orchestrator's environment variables the processes it starts may see. Pure rules over a dict.

A gate command (a project's tests, a linter) gets a minimal environment: what a program needs to
find its tools, its home, its locale and its temporary folder, and nothing of the orchestrator (its
database URL, tokens, provider keys). An agent CLI gets the orchestrator's environment less
phaseloom's own variables and database secrets: the CLI's provider may be configured through
variables of any name (Codex's ``env_key``, OpenCode's ``{env:VAR}``), so only what phaseloom knows
to be its own is taken away; what the agent needs of phaseloom is set explicitly by its runtime.
"""

from __future__ import annotations

from collections.abc import Mapping

MINIMAL_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
    "TMPDIR", "TMP", "TEMP", "SYSTEMROOT", "COMSPEC", "PATHEXT",  # the last three: Windows needs them
})
MINIMAL_PREFIXES = ("LC_",)
PRIVATE_PREFIXES = ("PHASELOOM_",)
PRIVATE_NAMES = frozenset({"DATABASE_URL", "PGPASSWORD", "PGPASSFILE"})


def minimal_environment(source: Mapping[str, str], also: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of ``source`` every program needs, and those named in ``also``."""
    return {name: value for name, value in source.items()
            if name in MINIMAL_NAMES or name.startswith(MINIMAL_PREFIXES) or name in also}


def without_orchestrator_secrets(source: Mapping[str, str]) -> dict[str, str]:
    """``source`` less phaseloom's own variables and the database's secrets."""
    return {name: value for name, value in source.items()
            if not name.startswith(PRIVATE_PREFIXES) and name not in PRIVATE_NAMES}
