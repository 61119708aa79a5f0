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

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

# Imported on first use (PEP 562): these import numpy, and the memory commands' worker route
# (``phaseloom.embeddings._worker_client``, the standard library only) must not pay for it.
_HOMES = {"cli_embedder": "_embedders", "default_embedder": "_embedders", "from_blob": "_embedders",
          "shared_embedder": "_embedders", "to_blob": "_embedders", "DIMENSIONS": "_local_model",
          "MODEL_NAME": "_local_model", "Embedder": "_local_model", "MiniLMEmbedder": "_local_model",
          "embedding_available": "_local_model", "local_embedder": "_local_model",
          "numpy_runtime_available": "_local_model", "RememberedQueries": "_query_embeddings"}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"phaseloom.embeddings.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'phaseloom.embeddings' has no attribute {name!r}")

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
