"""``phaseloom memory add|search``."""

from __future__ import annotations

from typing import Optional

import typer

from phaseloom.cli.context import console, state

app = typer.Typer(help="Save and search what agents learned.", no_args_is_help=True)
MIN_LIMIT, MAX_LIMIT = 1, 100


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
    """Save a memory; a near-duplicate updates the existing one instead. Goes through a running
    serve when PHASELOOM_API_URL is set, else through the memory worker (started on first use)."""
    from phaseloom.cli.memory_server import configured_server

    server = configured_server()
    if server is not None:
        body = {"content": content, "memory_type": memory_type, "task_id": task, "tags": tag, "related_files": file,
                "project_id": server.project_id(project) if project else None}
        saved = server.request("POST", "/api/memories", body=body)
        memory_id, action, saved_type = saved["memory"]["id"], saved["action"], saved["memory"]["memory_type"]
    else:
        arguments = {"content": content, "memory_type": memory_type, "project": project, "task": task,
                     "tags": tag, "files": file}
        saved = _without_server("add", arguments)
        memory_id, action, saved_type = saved["id"], saved["action"], saved["memory_type"]
    console.print(f"memory {memory_id} {action} ({saved_type})")


def _without_server(command: str, arguments: dict) -> dict:
    """The command's result from the memory worker (see cli/memory_route.py), else from this process."""
    from phaseloom.cli.memory_route import MEMORY_WORKER, ask_worker, worker_settings

    route = None if state.debug else worker_settings(state.database_url)
    result = ask_worker(command, arguments, route) if route is not None else None
    if result is not None:
        return result
    from phaseloom.cli import memory_ops
    from phaseloom.embeddings import cli_embedder

    embedder = cli_embedder(state.settings, worker_module=MEMORY_WORKER)
    run = memory_ops.add_memory if command == "add" else memory_ops.search_memories
    return run(state.uow(), embedder, arguments)


@app.command("search")
def search(
    query: str,
    project: Optional[str] = typer.Option(None, "--project"),
    phase: Optional[str] = typer.Option(None, "--phase"),
    memory_type: Optional[str] = typer.Option(None, "--type", "-t"),
    limit: int = typer.Option(10, "--limit", "-n", help="1 to 100."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, semantic or keyword"),
    *, ctx: typer.Context,
) -> None:
    """Search memories by meaning and by words (Reciprocal Rank Fusion of both); through a running
    serve when PHASELOOM_API_URL is set, else through the memory worker."""
    from phaseloom.cli.memory_server import configured_server
    from phaseloom.domain.errors import InvalidInput

    # Bounds checked here, in typer's words: an option with min/max makes typer build pydantic
    # adapters for the command's parameters, a third of the command's CPU (cli/plain_coercion.py).
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        bound = f"greater than or equal to {MIN_LIMIT}" if limit < MIN_LIMIT else f"less than or equal to {MAX_LIMIT}"
        raise typer.BadParameter(f"Input should be {bound}", ctx=ctx, param_hint="'--limit' / '-n'")
    if mode not in ("hybrid", "semantic", "keyword"):
        raise InvalidInput(f"unknown search mode {mode!r}; expected hybrid, semantic or keyword")
    server = configured_server()
    if server is None:
        found = _without_server("search", {"query": query, "project": project, "phase": phase,
                                           "memory_type": memory_type, "limit": limit, "mode": mode})
        _print_hits([(h["memory"], h["score"], h["semantic_rank"], h["keyword_rank"]) for h in found["hits"]],
                    semantic_available=found["semantic_available"])
        return
    query_args = {"q": query, "limit": limit, "mode": mode, "phase_id": phase, "memory_type": memory_type,
                  "project_id": server.project_id(project) if project else None}
    found = server.request("GET", "/api/memories", query={k: v for k, v in query_args.items() if v is not None})
    _print_hits([(h["memory"], h["score"], h["semantic_rank"], h["keyword_rank"]) for h in found["hits"]],
                semantic_available=found["semantic_available"] or mode == "keyword")


def _print_hits(hits: list[tuple[dict, float, int | None, int | None]], *, semantic_available: bool) -> None:
    """One table, whichever route answered: (memory fields, score, semantic rank, keyword rank) per hit."""
    if not semantic_available:  # the memory extra is missing where the search ran
        console.print("[yellow]semantic search unavailable (install phaseloom[memory]); keyword only[/]")
    from rich.table import Table

    table = Table("id", "type", "phase", "score", "sem", "kw", "content")
    for memory, score, semantic_rank, keyword_rank in hits:
        table.add_row(str(memory["id"]), memory["memory_type"], memory["phase_id"] or "", f"{score:.4f}",
                      str(semantic_rank or "-"), str(keyword_rank or "-"), memory["content"][:90])
    console.print(table)


worker_app = typer.Typer(help="The worker memory commands use: it embeds and runs them (started on first use).",
                         no_args_is_help=True)
app.add_typer(worker_app, name="worker")


def _worker():
    from phaseloom.cli.memory_route import MEMORY_WORKER
    from phaseloom.embeddings._worker_client import WorkerProcess

    return WorkerProcess(state.settings.home, entry_module=MEMORY_WORKER)


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
