"""The memory evaluation set (tests/data/memory_eval/) and its measures, shared by the eval test
and ``bench/memory.py``.

Two parts: generated notes (``memories.jsonl`` / ``queries.jsonl``, see ``build_eval_set.py``) and
hand-written ones (``memories_written.jsonl`` / ``queries_written.jsonl``). Every query has a kind:

- ``keyword``: an exact identifier (error name, config key, flag, file);
- ``mixed``: some words of the memory, some not (the generated "paraphrases" are this kind: they
  repeat the component's name);
- ``paraphrase``: no content word in common with the memory it should find (checked by
  ``shared_content_words``);
- ``phase``: searched within one phase (``phase_id``), with same-topic memories in other phases.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

EVAL = Path(__file__).resolve().parent.parent / "data" / "memory_eval"
KINDS = ("keyword", "mixed", "paraphrase", "phase")
_GENERATED_KIND = {"identifier": "keyword", "paraphrase": "mixed"}
# Function words: sharing one of these is not sharing content.
_FUNCTION_WORDS = frozenset("""
a an the and or but of to in on for with without is are was were be been being by at it its this that these those
from as how what why when where which who whom do does did not no can could should would will may might must we i
you our your they their them he she his her there here than then so if into onto over under about after before again
once each every any all some such only own same other another more most very too just also get got one two because
since while
""".split())


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    kind: str
    relevant: tuple[str, ...]
    phase_id: str | None = None


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVAL / name).read_text().splitlines() if line.strip()]


def memories() -> list[dict]:
    return _lines("memories.jsonl") + _lines("memories_written.jsonl")


def queries() -> list[Query]:
    generated = [Query(q["id"], q["query"], _GENERATED_KIND[q["style"]], tuple(q["relevant"]))
                 for q in _lines("queries.jsonl")]
    written = [Query(q["id"], q["query"], q["kind"], tuple(q["relevant"]), q.get("phase_id"))
               for q in _lines("queries_written.jsonl")]
    return generated + written


def _stem(word: str) -> str:
    """A deliberately coarse stem (suffix off, first five letters): two words with one stem count as shared."""
    for suffix in ("ations", "ation", "ings", "ing", "edly", "ed", "ers", "er", "ies", "es", "s", "ly", "ment",
                   "ion", "ive"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:  # "take" and "takes" (-> "tak") share a stem
        word = word[:-1]
    return word[:5]


def content_stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _FUNCTION_WORDS and len(w) >= 2}


def shared_content_words(query: str, memory: dict) -> set[str]:
    """Stems a query has in common with a memory's content and tags (what keyword search could match)."""
    return content_stems(query) & content_stems(memory["content"] + " " + " ".join(memory.get("tags", [])))


def first_relevant_rank(found_ids: list[int], relevant: set[int]) -> int | None:
    return next((rank for rank, i in enumerate(found_ids, 1) if i in relevant), None)


def scores(ranks: list[int | None]) -> tuple[float, float]:
    """(recall@5, MRR@10) of queries whose first relevant hit had these ranks (None: not in the top 10)."""
    if not ranks:
        return 0.0, 0.0
    recall = sum(1 for r in ranks if r is not None and r <= 5) / len(ranks)
    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks)
    return recall, mrr


def load_into(service, project_id: int) -> dict[str, int]:
    """Save every memory of the set in the project; return eval id -> database id."""
    items = memories()
    outcomes = service.save_memories([
        {"content": m["content"], "memory_type": m["memory_type"], "phase_id": m["phase_id"], "tags": m["tags"],
         "project_id": project_id} for m in items])
    if any(o.action != "created" for o in outcomes):
        raise AssertionError("an evaluation memory was merged into another: the set has near-duplicates")
    return {m["id"]: o.memory.id for m, o in zip(items, outcomes)}


def evaluate(service, project_id: int, ids: dict[str, int], mode: str,
             selected: list[Query] | None = None) -> dict[str, tuple[float, float]]:
    """(recall@5, MRR@10) per query kind and ``overall`` for one search mode."""
    ranks: dict[str, list[int | None]] = {kind: [] for kind in KINDS}
    for q in selected if selected is not None else queries():
        hits = service.search(q.text, project_id=project_id, phase_id=q.phase_id, limit=10, mode=mode)
        ranks[q.kind].append(first_relevant_rank([h.memory.id for h in hits], {ids[r] for r in q.relevant}))
    result = {kind: scores(r) for kind, r in ranks.items() if r}
    result["overall"] = scores([r for kind in ranks.values() for r in kind])
    return result
