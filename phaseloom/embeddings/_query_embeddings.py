"""Search queries embedded once, and early.

Building a task's instructions searches its memories twice with the same query (its phase, then
the whole project), and each search embedded the query again: ~15 ms of CPU each with MiniLM.
:class:`RememberedQueries` keeps the last queries' vectors, and a query being embedded on one
thread is waited for, not embedded again, by another. That lets the task executor start the
query's embedding while git prepares the agent's worktree (the model releases the GIL), so the
instructions find it ready.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

KEEP = 64  # queries remembered: a few per worker thread is plenty


class RememberedQueries:
    """An embedder that remembers single-text calls (queries); batches go straight through."""

    def __init__(self, inner, keep: int = KEEP) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self._keep = keep
        self._vectors: OrderedDict[str, Future] = OrderedDict()
        self._lock = threading.Lock()

    def __getattr__(self, attribute):  # warm(), loaded, batch_size…: the model's own
        return getattr(self.inner, attribute)

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.embed(texts)
        text = texts[0]
        with self._lock:
            pending = self._vectors.get(text)
            mine = pending is None
            if mine:
                pending = self._vectors[text] = Future()
                while len(self._vectors) > self._keep:
                    self._vectors.popitem(last=False)
            else:
                self._vectors.move_to_end(text)
        if mine:
            try:
                pending.set_result(self.inner.embed([text]))
            except BaseException as exc:  # noqa: BLE001 - waiting threads get the same error, then it is raised
                with self._lock:
                    self._vectors.pop(text, None)  # not remembered: the next caller tries again
                pending.set_exception(exc)
        return pending.result().copy()
