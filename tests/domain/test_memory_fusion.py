"""Coverage-weighted rank fusion of the semantic and keyword lists."""

from phaseloom.domain.memory import coverage_weighted_fusion


def test_weak_keyword_matches_below_the_floor_do_not_move_the_semantic_order():
    semantic = [1, 2, 3]
    keyword = [(3, 0.3), (2, 0.49)]  # accidental matches: "run", "job"
    assert [i for i, _ in coverage_weighted_fusion(semantic, keyword)] == [1, 2, 3]


def test_a_keyword_hit_covering_the_query_lifts_its_memory():
    semantic = [1, 2, 3]
    fused = coverage_weighted_fusion(semantic, [(3, 1.0)])
    assert [i for i, _ in fused] == [3, 1, 2]
    assert fused[0][1] == 1 / 63 + 1 / 61


def test_keyword_ranks_count_only_the_hits_kept_and_are_weighted_by_coverage():
    fused = dict(coverage_weighted_fusion([], [(7, 0.1), (8, 0.8), (9, 0.5)], k=10, floor=0.5))
    assert fused == {8: 0.8 / 11, 9: 0.5 / 12}


def test_ties_keep_the_order_of_first_appearance():
    assert [i for i, _ in coverage_weighted_fusion([4, 5], [(5, 1.0), (4, 1.0)])] == [4, 5]
