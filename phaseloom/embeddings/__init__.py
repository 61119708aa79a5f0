"""Sentence embeddings: the MiniLM model, the persistent worker, and which embedder a caller gets.

- :class:`Embedder` is the interface (``embed(texts)`` → unit-length float32 rows);
- :func:`default_embedder` / :func:`cli_embedder` choose one from the caller's settings,
  :func:`shared_embedder` is the process's model (its recent queries remembered,
  :class:`RememberedQueries`), :func:`local_embedder` a new one;
- :func:`to_blob` / :func:`from_blob` are how a vector is stored.

:mod:`phaseloom.embeddings.worker` is the model process short-lived commands ask
(``python -m phaseloom.embeddings.worker``); it is not imported here, so that running it does not
import it twice. Nothing here touches the database: the worker starts without SQLAlchemy.
"""

from phaseloom.embeddings._embedders import cli_embedder, default_embedder, from_blob, shared_embedder, to_blob
from phaseloom.embeddings._local_model import (
    DIMENSIONS,
    MODEL_NAME,
    Embedder,
    MiniLMEmbedder,
    embedding_available,
    local_embedder,
    numpy_runtime_available,
)
from phaseloom.embeddings._query_embeddings import RememberedQueries

__all__ = [
    "DIMENSIONS",
    "MODEL_NAME",
    "Embedder",
    "MiniLMEmbedder",
    "RememberedQueries",
    "cli_embedder",
    "default_embedder",
    "embedding_available",
    "from_blob",
    "local_embedder",
    "numpy_runtime_available",
    "shared_embedder",
    "to_blob",
]
