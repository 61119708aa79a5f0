"""How a command agent's run ended, from its exit code, what its stream said and the tail of its output.

The classes decide what happens next (see ARCHITECTURE.md): a usage or login problem is permanent and
says what to fix; a rate limit gives the task back without spending a retry; an MCP agent's exit 0
is only a candidate completion until its own report is found (``needs_agent_report``); an agent
without MCP must have changed its worktree when the phase expects outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phaseloom.domain.rate_limits import is_rate_limit, retry_after_seconds
from phaseloom.runtimes.base import RunOutcome
from phaseloom.runtimes.streams import StreamState

_AUTH = re.compile(r"\b401\b|unauthori[sz]ed|invalid[\s_-]?(?:api[\s_-]?)?key|not logged in|please (?:run )?"
                   r"(?:/)?login|authentication[\s_-]?(?:error|failed)|invalid x-api-key|missing api key",
                   re.IGNORECASE)
_USAGE = re.compile(r"unexpected argument|unknown option|unrecognized (?:arguments?|option)|no such option|"
                    r"invalid value for|^usage:|error: .*(?:argument|option)|"
                    # yargs (OpenCode) answers a bad flag with its option table and exit 1
                    r"^\s+(?:-\w, )?--[\w-]+ .*\[(?:boolean|string|number|array)\]\s*$",
                    re.IGNORECASE | re.MULTILINE)
USAGE_EXIT_CODE = 2  # what argparse, clap and commander exit with on a bad command line


@dataclass(frozen=True)
class RunFacts:
    """What the runtime saw of one run."""

    exit_code: int | None            # None: stopped at its timeout
    state: StreamState
    output_tail: str                 # the run's own output (never our header line)
    timeout_seconds: float
    program: str
    needs_agent_report: bool
    worktree_changed: bool | None    # None: not a git worktree, or not checked
    expects_outputs: bool


def outcome_of(facts: RunFacts) -> RunOutcome:
    state, tail = facts.state, facts.output_tail
    summary = state.final_message.strip()
    common = dict(exit_code=facts.exit_code, session_id=state.session_id)
    if facts.exit_code is None:
        return RunOutcome(False, summary=tail, error=f"the agent ran longer than {facts.timeout_seconds:g}s and "
                          "was stopped", error_class="timeout", **common)
    evidence = "\n".join([*state.errors, tail])
    if state.rate_limited or (facts.exit_code != 0 and is_rate_limit(evidence)):
        wait = state.retry_after_seconds if state.retry_after_seconds is not None else retry_after_seconds(evidence)
        return RunOutcome(False, summary=tail, error=f"rate limited by the provider: {_last_line(evidence)}",
                          error_class="rate_limit", retryable=True, rate_limited=True, retry_after_seconds=wait,
                          **common)
    if state.auth_failed or (facts.exit_code != 0 and _AUTH.search(evidence)):
        return RunOutcome(False, summary=tail, error_class="auth", retryable=False, **common,
                          error=f"{facts.program} could not authenticate with its model provider "
                                f"({_last_line(evidence)}); log in to it or set its API key, then retry the task")
    if facts.exit_code != 0:
        return _exit_failure(facts, evidence, common)
    if facts.needs_agent_report:
        return RunOutcome(True, summary=summary or tail, needs_agent_report=True, **common)
    if facts.worktree_changed is False and facts.expects_outputs:
        return RunOutcome(False, summary=summary or tail, error_class="no_changes", retryable=True, **common,
                          error="the agent exited 0 but changed nothing in its worktree, and the phase expects "
                                f"outputs; last output: {tail[-500:] or '(none)'}")
    return RunOutcome(True, summary=summary or tail or f"{facts.program} finished", **common)


def _exit_failure(facts: RunFacts, evidence: str, common: dict) -> RunOutcome:
    code = facts.exit_code
    if code == USAGE_EXIT_CODE or _USAGE.search(facts.output_tail):
        return RunOutcome(False, summary=facts.output_tail, error_class="usage", retryable=False, **common,
                          error=f"{facts.program} refused its command line (exit {code}): "
                                f"{facts.output_tail[-400:]}; fix the agent command or the preset's flags "
                                "(phaseloom doctor shows the CLI versions tested)")
    return RunOutcome(False, summary=facts.output_tail, error_class="exit_code", **common,
                      error=f"the agent exited with code {code}: {evidence[-500:]}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no details"
