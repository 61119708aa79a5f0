"""Pure cost rules: what tokens cost, and the usage line a ``command`` agent prints.

The usage line is one JSON object on a line of its own in the agent's output::

    {"phaseloom_usage": {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 350}}

An agent may print several (one per model call); each becomes a cost record. Lines that are not
this shape are ignored, so ordinary output never turns into a cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

USAGE_KEY = "phaseloom_usage"
DEFAULT_PRICE_KEY = "default"
BUDGET_SCOPES = ("project", "ticket", "phase", "agent")


@dataclass(frozen=True)
class UsageReport:
    model: str
    input_tokens: int
    output_tokens: int
    # What the agent itself said the call cost, in USD (Claude Code's costUSD, Aider's "Cost: $x"):
    # used instead of the pricing table when phaseloom's currency is USD.
    cost_usd: float | None = None


def spread_cost(reports: list[UsageReport], total_usd: float | None) -> list[UsageReport]:
    """Give a run's total USD figure to reports that carry none, in proportion to their tokens."""
    if total_usd is None or not reports or any(r.cost_usd is not None for r in reports):
        return list(reports)
    tokens = sum(r.input_tokens + r.output_tokens for r in reports)
    share = (lambda r: (r.input_tokens + r.output_tokens) / tokens) if tokens else (lambda r: 1 / len(reports))
    return [UsageReport(r.model, r.input_tokens, r.output_tokens, total_usd * share(r)) for r in reports]


def token_cost(input_tokens: int, output_tokens: int, input_per_million: float, output_per_million: float) -> float:
    return (input_tokens * input_per_million + output_tokens * output_per_million) / 1_000_000


def price_of(model: str, input_tokens: int, output_tokens: int, pricing: Mapping[str, tuple[float, float]]) -> float:
    """The amount for a call: the model's price, else the ``default`` price, else nothing."""
    per_million = pricing.get(model) or pricing.get(DEFAULT_PRICE_KEY) or (0.0, 0.0)
    return token_cost(input_tokens, output_tokens, *per_million)


def parse_usage_line(line: str) -> UsageReport | None:
    """The report on ``line``, or None when the line is not a usage line."""
    text = line.strip()
    if USAGE_KEY not in text or not text.startswith("{"):
        return None
    try:
        body = json.loads(text).get(USAGE_KEY)
        report = UsageReport(str(body["model"]), int(body.get("input_tokens") or 0),
                             int(body.get("output_tokens") or 0))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if report.input_tokens < 0 or report.output_tokens < 0 or not report.model:
        return None
    return report


def parse_usage_lines(text: str) -> list[UsageReport]:
    return [r for r in map(parse_usage_line, text.splitlines()) if r is not None]


def threshold_crossings(spent: float, limit: float, alert_threshold: float, warned: bool,
                        exhausted: bool) -> tuple[bool, bool, list[str]]:
    """The new (warned, exhausted) flags of a budget, and the events their change raises.

    Each crossing raises its event once; falling back below (a raised limit) clears the flag so
    a later crossing raises it again, and leaving the exhausted state raises ``resumed``.
    """
    over_alert, over_limit = spent >= alert_threshold * limit, spent >= limit
    events = []
    if over_alert and not warned:
        events.append("cost.budget.warning")
    if over_limit and not exhausted:
        events.append("cost.budget.exceeded")
    if exhausted and not over_limit:
        events.append("cost.budget.resumed")
    return over_alert, over_limit, events
