"""Which query words go into a keyword OR query."""

from phaseloom.domain.memory import affordable_terms


def test_rare_words_are_kept_and_common_ones_left_out_within_the_budget():
    terms = ["happens", "payment", "webhook", "run", "concurrently"]
    counts = [5001, 3136, 600, 5001, 0]
    assert affordable_terms(terms, counts, 5000) == ["payment", "webhook"]  # in query order


def test_the_rarest_matching_word_is_kept_even_over_budget():
    assert affordable_terms(["run", "login"], [9000, 7000], 5000) == ["login"]


def test_small_collections_keep_every_matching_word():
    assert affordable_terms(["a1", "b2", "c3"], [40, 0, 120], 5000) == ["a1", "c3"]
    assert affordable_terms(["x"], [0], 5000) == []
