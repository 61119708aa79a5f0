"""A query is embedded once however many searches (and threads) ask for it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from phaseloom.embeddings import RememberedQueries


class CountingEmbedder:
    name, dimensions = "counting", 3

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.delay, self.fail = delay, fail

    def embed(self, texts):
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model broke")
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_the_same_query_is_embedded_once_and_batches_pass_through():
    inner = CountingEmbedder()
    embedder = RememberedQueries(inner)
    first = embedder.embed(["error budget"])
    first[0][0] = 99  # a caller changing its copy changes nobody else's
    assert embedder.embed(["error budget"])[0].tolist() == [12.0, 1.0, 0.0]
    embedder.embed(["a", "b"])
    embedder.embed(["a", "b"])
    assert inner.calls == [["error budget"], ["a", "b"], ["a", "b"]]


def test_a_query_being_embedded_is_waited_for_not_embedded_again():
    inner = CountingEmbedder(delay=0.3)
    embedder = RememberedQueries(inner)
    results = []
    threads = [threading.Thread(target=lambda: results.append(embedder.embed(["slow"])[0].tolist()))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == [["slow"]]
    assert results == [[4.0, 1.0, 0.0]] * 4


def test_a_failure_is_raised_and_not_remembered():
    inner = CountingEmbedder(fail=True)
    embedder = RememberedQueries(inner)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="model broke"):
            embedder.embed(["q"])
    assert len(inner.calls) == 2


def test_only_the_latest_queries_are_kept():
    inner = CountingEmbedder()
    embedder = RememberedQueries(inner, keep=2)
    for text in ("one", "two", "three", "one"):
        embedder.embed([text])
    assert [c[0] for c in inner.calls] == ["one", "two", "three", "one"]
