"""Costs, budgets and anomalies (migration 000a).

A budget keeps a running ``spent`` total and an ``exhausted`` flag, both maintained when usage is
recorded, so the claim statement only has to test a flag on a tiny table, never sum cost records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from phaseloom.db.models.base import Base, utcnow


class CostRecord(Base):
    """The tokens one model call (or one agent run) used, and what they cost."""

    __tablename__ = "cost_records"
    __table_args__ = (
        Index("ix_cost_records_created_at", "created_at"),
        Index("ix_cost_records_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"), default=None)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), default=None)
    phase_id: Mapped[str] = mapped_column(String(100))
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    model: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    source: Mapped[str] = mapped_column(String(50), default="runtime")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Budget(Base):
    """A spending limit over one scope: a project, a ticket, a phase (of a project, or of all) or an agent."""

    __tablename__ = "budgets"
    __table_args__ = (Index("ix_budgets_exhausted", "exhausted"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), default=None)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), default=None)
    phase_id: Mapped[str | None] = mapped_column(String(100), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    limit_amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    alert_threshold: Mapped[float] = mapped_column(Float, default=0.8)
    spent: Mapped[float] = mapped_column(Float, default=0.0)
    warned: Mapped[bool] = mapped_column(default=False)
    exhausted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Anomaly(Base):
    """A finished task far off its (agent type, phase) baseline; stored so it is raised once."""

    __tablename__ = "anomalies"
    __table_args__ = (UniqueConstraint("task_id", "metric", name="uq_anomalies_task_metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    phase_id: Mapped[str] = mapped_column(String(100))
    agent_type: Mapped[str] = mapped_column(String(50))
    metric: Mapped[str] = mapped_column(String(30))
    value: Mapped[float] = mapped_column(Float)
    baseline_mean: Mapped[float] = mapped_column(Float)
    baseline_stddev: Mapped[float] = mapped_column(Float)
    sample_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def budget_covers(project_id: Any, ticket_id: Any, phase_id: Any, agent_id: Any):
    """The SQL condition "this budget row covers work of (project, ticket, phase, agent)".

    The arguments are column expressions or bound parameters, so the same rule serves the
    claim statement (task columns) and charging (a cost's values).
    """
    return or_(
        and_(Budget.scope == "project", Budget.project_id == project_id),
        and_(Budget.scope == "ticket", Budget.ticket_id == ticket_id),
        and_(Budget.scope == "phase", Budget.phase_id == phase_id,
             or_(Budget.project_id.is_(None), Budget.project_id == project_id)),
        and_(Budget.scope == "agent", Budget.agent_id == agent_id),
    )
