from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phaseloom.db.models.base import Base, utcnow


class WorkflowRow(Base):
    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    mode: Mapped[str] = mapped_column(String(20), default="structured")
    description: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phases: Mapped[list["PhaseRow"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", order_by="PhaseRow.sequence_order"
    )
    board_columns: Mapped[list["BoardColumnRow"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", order_by="BoardColumnRow.position"
    )


class PhaseRow(Base):
    __tablename__ = "phases"

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    sequence_order: Mapped[int] = mapped_column(default=0)
    allowed_transitions: Mapped[list[str]] = mapped_column(default=list)
    is_terminal: Mapped[bool] = mapped_column(default=False)
    done_definitions: Mapped[list[str]] = mapped_column(default=list)
    expected_outputs: Mapped[list[Any]] = mapped_column(default=list)
    phase_prompt: Mapped[str] = mapped_column(Text, default="")
    next_steps_guide: Mapped[list[str]] = mapped_column(default=list)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    initial_tasks: Mapped[list[Any]] = mapped_column(default=list)
    working_directory: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[str] = mapped_column(String(20), default="workspace_write")

    workflow: Mapped[WorkflowRow] = relationship(back_populates="phases")


class BoardColumnRow(Base):
    __tablename__ = "board_columns"
    __table_args__ = (UniqueConstraint("workflow_id", "position"),)

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column()
    phase_mapping: Mapped[list[str]] = mapped_column(default=list)
    wip_limit: Mapped[int | None] = mapped_column(default=None)
    auto_transition_to: Mapped[str | None] = mapped_column(String(100), default=None)

    workflow: Mapped[WorkflowRow] = relationship(back_populates="board_columns")


def phase_fk(column: str = "phase_id") -> ForeignKeyConstraint:
    """A composite foreign key from (workflow_id, ``column``) to a phase of the same workflow."""
    return ForeignKeyConstraint(["workflow_id", column], ["phases.workflow_id", "phases.id"])
