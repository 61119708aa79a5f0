"""The merge queue's rules: a workflow's ``settings.merge``, an entry's states, and what a rejection says.

Plain data, no I/O: the loader validates ``settings.merge`` (``schemas/merge_queue.py``), the service
(``services/merge_queue.py``) reads it back through :func:`merge_settings_of`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("merge", "squash", "rebase")
DEFAULT_CHECK_TIMEOUT = 600.0
# How much of a failing check's output a rejection's task carries: its end, where the failure is told.
OUTPUT_LIMIT = 4000


class MergeStatus(str, enum.Enum):
    QUEUED = "queued"      # waiting its turn (or re-queued: the target moved after its test)
    TESTING = "testing"    # merged in the scratch worktree, its checks running
    LANDED = "landed"      # the target branch was moved to the tested commit; the ticket is done
    REJECTED = "rejected"  # a conflict or a failing check; the ticket went back to work


WAITING_STATUSES = (MergeStatus.QUEUED.value, MergeStatus.TESTING.value)


@dataclass(frozen=True)
class MergeSettings:
    """Where a workflow's finished tickets land, and what must pass on the merged result first."""

    into: str = "main"
    check: tuple[tuple[str, ...], ...] = ()
    strategy: str = "merge"
    timeout_seconds: float = DEFAULT_CHECK_TIMEOUT
    # The phase a rejected ticket goes back to (None: the workflow's implementation phase).
    return_to: str | None = None


def merge_settings_of(settings: dict[str, Any]) -> MergeSettings | None:
    """The workflow's ``settings.merge`` (already validated when the workflow was saved); None without one."""
    raw = settings.get("merge")
    if not raw:
        return None
    return MergeSettings(into=raw.get("into", "main"), check=tuple(tuple(argv) for argv in raw.get("check") or ()),
                         strategy=raw.get("strategy", "merge"),
                         timeout_seconds=float(raw.get("timeout_seconds") or DEFAULT_CHECK_TIMEOUT),
                         return_to=raw.get("return_to"))


def output_tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The last ``limit`` characters of ``text``, cut at a line start and saying what was left out."""
    text = text.rstrip()
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < limit // 4:
        cut = cut[newline + 1:]
    return f"[… {len(text) - len(cut)} earlier characters left out]\n{cut}"


def conflict_task(branch: str, into: str, files: list[str]) -> str:
    """What a ticket whose branch conflicts with the target is sent back to do."""
    listed = "\n".join(f"- {name}" for name in files) or "- (git named no file)"
    return (f"Merging {branch} onto {into} conflicts in these files:\n{listed}\n\n"
            f"Merge {into} into your branch (`git merge {into}`), resolve the conflicts in the files above "
            f"keeping the intent of both sides, and make sure the checks still pass. Nothing was merged.")


def failing_check_task(branch: str, into: str, argv: tuple[str, ...], exit_code: int | None, output: str) -> str:
    """What a ticket whose merged result fails a check is sent back to do."""
    how = "timed out" if exit_code is None else f"exited {exit_code}"
    return (f"The merge of {branch} onto the current {into} failed: the check `{' '.join(argv)}` {how} "
            f"on the merged result. Merge {into} into your branch (`git merge {into}`), fix what the output "
            f"below shows, and run the check yourself before completing.\n\nOutput (its end):\n{output_tail(output)}")
