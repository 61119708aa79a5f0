"""MiniLM on numpy against MiniLM through sentence-transformers + torch, in one run.

Each runtime starts in a fresh interpreter (as a command would) and reports: time to import
and load the model and embed one text; then one query's embedding (median of 20); then 256
memory-sized texts in one call. Also the vectors' agreement and the installed size of what each
runtime needs besides numpy and the weights. ``python -c pass`` is the start-up baseline.

    python bench/embedding_runtime.py
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import json, statistics, sys, time
start = time.perf_counter()
from phaseloom.embeddings import MiniLMEmbedder, local_embedder
embedder = local_embedder() if sys.argv[1] == "numpy" else MiniLMEmbedder()
embedder.embed(["warm up"])
load = time.perf_counter() - start
queries = []
for i in range(20):
    t = time.perf_counter(); embedder.embed([f"why does the upload to storage time out {i}"])
    queries.append(time.perf_counter() - t)
texts = [f"note {i}: the payment webhook rejected signatures because the client was built before the secret "
         f"was loaded; construct it lazily in billing/webhooks.py and retry failed events {i}" for i in range(256)]
t = time.perf_counter(); vectors = embedder.embed(texts); batch = time.perf_counter() - t
import numpy as np
np.save(sys.argv[2], vectors)
print(json.dumps({"load": load, "query": statistics.median(queries), "batch": batch}))
"""


def _size(*modules: str) -> int:
    total = 0
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            total += sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    return total


def main() -> None:
    import numpy as np

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - start
    results = {}
    for runtime in ("numpy", "torch"):
        out = Path(f"/tmp/phaseloom-runtime-{runtime}.npy")
        done = subprocess.run([sys.executable, "-c", CHILD, runtime, str(out)], cwd=ROOT, check=True,
                              capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
        results[runtime] = json.loads(done.stdout.strip().splitlines()[-1])
        results[runtime]["vectors"] = np.load(out)
    sizes = {"numpy": _size("tokenizers", "safetensors"),
             "torch": _size("torch", "sentence_transformers", "transformers", "tokenizers", "safetensors")}
    cosines = (results["numpy"]["vectors"] * results["torch"]["vectors"]).sum(1)
    print(f"python -c pass: {interpreter:.3f} s; vector agreement (cosine) min {cosines.min():.6f}")
    print(f"{'runtime':8} {'import+load+1st s':>18} {'query ms':>9} {'256 texts s':>12} {'install MB':>11}")
    for runtime, r in results.items():
        print(f"{runtime:8} {r['load']:18.2f} {r['query'] * 1000:9.1f} {r['batch']:12.2f} {sizes[runtime] / 1e6:11.0f}")
    n, t = results["numpy"], results["torch"]
    print(f"numpy vs torch: load {t['load'] / n['load']:.1f}x faster, query {t['query'] / n['query']:.1f}x, "
          f"batch {t['batch'] / n['batch']:.2f}x")


if __name__ == "__main__":
    main()
