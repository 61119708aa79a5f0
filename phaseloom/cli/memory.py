"""``phaseloom memory add|search``."""

from __future__ import annotations

from typing import Optional

import typer

from phaseloom.cli.context import console, state

app = typer.Typer(help="Save and search what agents learned.", no_args_is_help=True)


@app.command("add")
def add(
    content: str,
    memory_type: str = typer.Option("learning", "--type", "-t",
                                    help="error_fix, discovery, decision, learning, warning, codebase_knowledge"),
    project: Optional[str] = typer.Option(None, "--project", help="Project name or id (or give --task)."),
    task: Optional[int] = typer.Option(None, "--task", help="Task the memory comes from (gives project and phase)."),
    tag: list[str] = typer.Option([], "--tag"),
    file: list[str] = typer.Option([], "--file", help="Related file (repeatable)."),
) -> None:
    """Save a memory; a near-duplicate updates the existing one instead."""
    from phaseloom.services.embeddings import cli_embedder
    from phaseloom.services.memory import MemoryService
    from phaseloom.services.projects import ProjectService

    uow = state.uow()
    project_id = ProjectService(uow).get(project).id if project else None
    saved = MemoryService(uow, embedder=cli_embedder()).save_memory(content, memory_type, project_id=project_id, task_id=task, tags=tag,
                                           related_files=file)
    console.print(f"memory {saved.memory.id} {saved.action} ({saved.memory.memory_type})")


@app.command("search")
def search(
    query: str,
    project: Optional[str] = typer.Option(None, "--project"),
    phase: Optional[str] = typer.Option(None, "--phase"),
    memory_type: Optional[str] = typer.Option(None, "--type", "-t"),
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=100),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, semantic or keyword"),
) -> None:
    """Search memories by meaning and by words (Reciprocal Rank Fusion of both)."""
    from phaseloom.domain.errors import InvalidInput
    from phaseloom.services.embeddings import cli_embedder
    from phaseloom.services.memory import MemoryService
    from phaseloom.services.projects import ProjectService

    if mode not in ("hybrid", "semantic", "keyword"):
        raise InvalidInput(f"unknown search mode {mode!r}; expected hybrid, semantic or keyword")
    uow = state.uow()
    project_id = ProjectService(uow).get(project).id if project else None
    service = MemoryService(uow, embedder=cli_embedder() if mode != "keyword" else None)
    if service.embedder is None and mode != "keyword":  # the memory extra is missing
        console.print("[yellow]semantic search unavailable (install phaseloom[memory]); keyword only[/]")
    hits = service.search(query, project_id=project_id, phase_id=phase, memory_type=memory_type, limit=limit,
                          mode=mode)  # type: ignore[arg-type]
    from rich.table import Table

    table = Table("id", "type", "phase", "score", "sem", "kw", "content")
    for h in hits:
        table.add_row(str(h.memory.id), h.memory.memory_type, h.memory.phase_id or "", f"{h.score:.4f}",
                      str(h.semantic_rank or "-"), str(h.keyword_rank or "-"), h.memory.content[:90])
    console.print(table)


worker_app = typer.Typer(help="The embedding worker memory commands use (started on first use).",
                         no_args_is_help=True)
app.add_typer(worker_app, name="worker")


def _worker():
    from phaseloom.services.embedding_worker import WorkerEmbedder
    from phaseloom.services.embeddings import DIMENSIONS, MODEL_NAME

    return WorkerEmbedder(state.settings.home, name=MODEL_NAME, dimensions=DIMENSIONS)


@worker_app.command("status")
def worker_status() -> None:
    """Say whether a worker is serving this folder's socket."""
    worker = _worker()
    console.print(f"embedding worker {'running' if worker.alive() else 'not running'} ({worker.path})")


@worker_app.command("stop")
def worker_stop() -> None:
    """Stop the worker now (the next memory command starts a fresh one)."""
    worker = _worker()
    running = worker.alive()
    worker.stop()
    worker.wait_gone()
    console.print("embedding worker stopped" if running else "embedding worker was not running")
