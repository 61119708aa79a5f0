"""What a phase lets its agent change: ``read_only``, ``workspace_write`` (the default) or ``full``.

Each runtime preset turns the level into its CLI's own controls (see ``runtimes/presets``); after the
agent ends, :func:`out_of_bounds` says which of the files it changed the level did not allow, so they
are reverted and the task failed with their list. A ``read_only`` phase may still write the outputs
it declares (``expected_outputs``), through the MCP tool ``write_artifact`` — the only tool a
``read_only`` phase is given beyond what its MCP policies allow.
"""

from __future__ import annotations

import enum
from pathlib import PurePosixPath

from phaseloom.domain.gates import glob_regex


class Permissions(str, enum.Enum):
    READ_ONLY = "read_only"
    WORKSPACE_WRITE = "workspace_write"
    FULL = "full"


DEFAULT_PERMISSIONS = Permissions.WORKSPACE_WRITE
WRITE_ARTIFACT_TOOL = "write_artifact"
# MCP tools a phase may call on top of what its policies allow (unless a policy denies them by name).
IMPLIED_TOOLS: dict[Permissions, tuple[str, ...]] = {Permissions.READ_ONLY: (WRITE_ARTIFACT_TOOL,)}


def declared_output(path: str, patterns: tuple[str, ...]) -> str | None:
    """The expected-output pattern ``path`` (relative, POSIX) matches, as the gate's artifacts match, or None."""
    clean = PurePosixPath(path).as_posix()
    return next((p for p in patterns if glob_regex(p.removeprefix("./")).match(clean)), None)


def out_of_bounds(level: Permissions, changed: list[str], output_patterns: tuple[str, ...]) -> list[str]:
    """The changed paths ``level`` does not allow, sorted: under ``read_only`` every path that is not a
    declared output; the other levels allow any change inside the worktree (git sees nothing outside)."""
    if level is not Permissions.READ_ONLY:
        return []
    return sorted(p for p in set(changed) if declared_output(p, output_patterns) is None)
