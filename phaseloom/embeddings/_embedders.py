"""Which embedder a caller gets: the process's shared model, or for short-lived commands the worker.

The settings are the caller's (the API app's, the CLI's, passed to a service's constructor):
nothing here reads a process-wide configuration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from phaseloom.embeddings._worker_client import EMBEDDING_WORKER
from phaseloom.embeddings._local_model import Embedder, embedding_available, local_embedder

if TYPE_CHECKING:
    from phaseloom.config import Settings

log = logging.getLogger(__name__)

_shared: Embedder | None = None
_warned = False


def shared_embedder() -> Embedder | None:
    """The process's MiniLM embedder (its recent queries remembered, see
    :mod:`phaseloom.embeddings._query_embeddings`), or None (said once in the log) when the memory
    extra is missing."""
    global _shared, _warned
    if _shared is not None:
        return _shared
    if embedding_available():
        from phaseloom.embeddings._query_embeddings import RememberedQueries

        _shared = RememberedQueries(local_embedder())
        return _shared
    if not _warned:
        log.warning("memory search runs keyword-only: install phaseloom[memory] for semantic search")
        _warned = True
    return None


def default_embedder(settings: Settings) -> Embedder | None:
    """The shared embedder, or None when ``settings.memory_semantic`` is off (keyword-only search)."""
    return shared_embedder() if settings.memory_semantic else None


def cli_embedder(settings: Settings, *, worker_module: str = EMBEDDING_WORKER) -> Embedder | None:
    """The embedder for short-lived commands: the persistent worker (see
    :mod:`phaseloom.embeddings.worker`; a new one runs ``python -m worker_module``), so a command never
    imports the model itself; the model in-process when ``memory_worker_idle_seconds`` is 0 or the
    worker cannot be had."""
    local = default_embedder(settings)
    if local is None or settings.memory_worker_idle_seconds <= 0:
        return local
    from phaseloom.embeddings.worker import FallbackEmbedder, WorkerEmbedder

    worker = WorkerEmbedder(settings.home, name=local.name, dimensions=local.dimensions,
                            idle_seconds=settings.memory_worker_idle_seconds, entry_module=worker_module)
    return FallbackEmbedder(worker, local)


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
