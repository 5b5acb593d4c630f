"""Joins in the data-flow check: parallel branches unite, alternatives intersect."""

from __future__ import annotations

from agentmap.workflow.branches import branch_signatures, combine, parallel, with_branch

A, B, C, D = 0b0001, 0b0010, 0b0100, 0b1000


def test_branch_signatures_stop_where_all_branches_meet() -> None:
    # 0 fans out to 1|2; both reach 3 (the join), which leads to 4 and back to 0.
    successors = [[1, 2], [3], [3], [4, 0], []]
    assert branch_signatures(successors, [(0, [1, 2])]) == [(), ((0, 1),), ((0, 2),), (), ()]


def test_a_loop_back_through_the_fan_out_starts_it_anew() -> None:
    # 2 loops back to 0, which fans out again: 2 is still only in branch 1.
    successors = [[1, 2], [], [0]]
    assert branch_signatures(successors, [(0, [1, 2])]) == [(), ((0, 1),), ((0, 2),)]


def test_parallel_means_disjoint_branches_of_one_fan_out() -> None:
    assert parallel(((0, 1),), ((0, 2),))
    assert not parallel(((0, 1),), ((0, 3),))  # both may run in branch 0
    assert not parallel(((0, 1),), ((1, 2),))  # different fan-outs: alternatives
    assert with_branch(((3, 1),), 1, 2) == ((1, 4), (3, 1))


def test_combine_unites_branches_and_intersects_alternatives() -> None:
    assert combine([(((0, 1),), A | D), (((0, 2),), B | D)]) == A | B | D
    assert combine([(((0, 1),), A | D), (((1, 1),), B | D)]) == D
    # Branches 1 and 2 of fan-out 0, where branch 1 holds two branches of fan-out 1.
    inner = [(((0, 1), (1, 1)), A), (((0, 1), (1, 2)), B), (((0, 2),), C)]
    assert combine(inner) == A | B | C


def test_a_knot_is_intersected() -> None:
    # a-b, b-c, c-d parallel, the rest alternatives: neither a union nor an
    # intersection of parts describes it, so the safe answer is the intersection.
    knot = [
        (((0, 1),), A | D),
        (((0, 2), (1, 1)), B | D),
        (((1, 2), (2, 1)), C | D),
        (((2, 2),), D),
    ]
    assert combine(knot) == D
