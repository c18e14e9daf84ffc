import random

from pipeline.gate import Gate
from pipeline.stats import discordant, mcnemar_exact
from tasks import Problem


def ladder(levels=range(1, 8), n=100):
    return [Problem(f"{lv}-{i}", "x", lv) for lv in levels for i in range(n)]


def correct_up_to(items, accuracy: dict[int, float], seed=0):
    """Correctness vectors with the given per-level accuracy (exact counts, shuffled positions)."""
    rng = random.Random(seed)
    out = []
    for lv in sorted({p.level for p in items}):
        n = sum(p.level == lv for p in items)
        k = round(accuracy.get(lv, 0.0) * n)
        flags = [True] * k + [False] * (n - k)
        rng.shuffle(flags)
        out += flags
    return out


CHAMPION = {1: 1.0, 2: 1.0, 3: 0.99, 4: 0.97, 5: 0.6, 6: 0.1}


def test_exact_mcnemar_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(10, 0) == 1 / 1024
    assert abs(mcnemar_exact(5, 5) - 0.623046875) < 1e-12
    assert discordant([True, False, True, False], [True, True, False, True]) == (2, 1)


def test_identical_successor_is_rejected():
    items = ladder()
    c = correct_up_to(items, CHAMPION)
    v = Gate().decide(items, c, list(c))
    assert not v.promoted and v.p_value == 1.0 and v.wins == v.losses == 0


def test_clearly_better_successor_is_promoted():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    successor = [c or (p.level in (5, 6) and random.Random(i).random() < 0.8) for i, (p, c) in enumerate(zip(items, champion))]
    v = Gate(window=2).decide(items, champion, successor)
    assert v.promoted, v.reason
    assert v.gate_levels == [5, 6] and v.p_value < 1e-6 and v.successor_frontier >= v.champion_frontier
    assert Gate().decide(items, champion, successor).gate_levels == [5]  # default: the next level only


def test_successor_that_regresses_on_a_lower_level_is_rejected():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    better = [c or p.level in (5, 6) for p, c in zip(items, champion)]
    # perfect on the frontier levels, but forgets a tenth of level 2
    broken = [ok and not (p.level == 2 and i % 10 == 0) for i, (p, ok) in enumerate(zip(items, better))]
    v = Gate().decide(items, champion, broken)
    assert not v.promoted and 2 in v.regressions and "regressed" in v.reason


def test_small_gain_is_not_significant():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    flipped = 0
    successor = list(champion)
    for i, p in enumerate(items):  # two more right answers at level 5: not evidence
        if p.level == 5 and not champion[i] and flipped < 2:
            successor[i], flipped = True, flipped + 1
    v = Gate().decide(items, champion, successor)
    assert not v.promoted and v.p_value > 0.05


def test_a_level_with_few_items_does_not_set_the_frontier():
    from pipeline.splits import Splits
    from tasks.reverse import StringTransform

    items = Splits().ladder(StringTransform(), "test", range(1, 5), 100, seed=0)
    assert [sum(p.level == lv for p in items) for lv in range(1, 5)] == [1, 10, 100, 100]  # 10 strings of 1 digit, 1 in test
    wrong_at_1 = [p.level != 1 for p in items]
    assert Gate(min_items=30).frontier(items, wrong_at_1) == 4  # the single 1-digit item counts neither way
    assert Gate(min_items=1).frontier(items, wrong_at_1) == 0  # the old rule: one answer decides everything
    wrong_at_3 = [p.level != 3 for p in items]
    assert Gate(min_items=30).frontier(items, wrong_at_3) == 2  # a level with enough items still stops it


def test_a_task_with_no_test_item_at_level_1_still_has_a_frontier():
    items = ladder(levels=range(2, 8))
    assert Gate().frontier(items, [True] * len(items)) == 7


def test_one_lost_item_on_a_small_mastered_level_is_not_a_regression():
    # 1-digit addition has 13 test items: one lost is a 7.7-point drop, far past the 2-point tolerance, and means nothing
    items = ladder(levels=[1], n=13) + ladder(levels=range(2, 7), n=500)
    champion = [True] * len(items)
    successor = [not (p.level == 1 and i == 0) for i, p in enumerate(items)]
    assert Gate(min_items=1).regressions(items, champion, successor, mastered=5) == {}
    # losing every 1-digit item is significant
    lost = [p.level != 1 for p in items]
    assert Gate(min_items=1).regressions(items, champion, lost, mastered=5) == {1: 1.0}


def test_a_regression_must_be_both_larger_than_the_tolerance_and_significant():
    items = ladder(levels=range(1, 4), n=500)
    champion = [True] * len(items)
    small = [not (p.level == 2 and i % 500 < 8) for i, p in enumerate(items)]  # 8 of 500 lost: 1.6 points, p = 0.004
    assert Gate().regressions(items, champion, small, mastered=3) == {}
    large = [not (p.level == 2 and i % 500 < 15) for i, p in enumerate(items)]  # 3 points, p = 3e-5
    assert Gate().regressions(items, champion, large, mastered=3) == {2: 0.03}
