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
