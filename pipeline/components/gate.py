"""The promotion rule: is the successor genuinely better than the champion on the same items, and does it keep
what the run has mastered?

Two conditions, both on the gate's held-out test ladder:
- on the frontier levels (just past the champion's frontier) the successor wins significantly more discordant
  items than it loses (exact one-sided McNemar, p below this decision's level, see `level`);
- every mastered level (1..the champion's frontier) holds: the successor ends it at most `tolerance` below the
  best any champion of the run has shown there (see `unheld`).
Levels with fewer than `min_items` test items are passed over by the frontier (`evaluate.frontier`).

**Run-wise error control.** A run takes one gate decision a generation, as many as it runs, and the ladder
need not bound them. At alpha each, a run of eight successors no better than their champions is promoted at
least once in a fifth to a quarter of runs (`python -m pipeline.tools.gate_check --runs`). `correction` chooses:
- `none`: every decision at alpha;
- `spending`: decision g at alpha * 6 / (pi^2 g^2) (online Bonferroni): the levels sum to alpha over any number
  of decisions, so a run promotes a successor that is no better with probability at most alpha, whatever the
  dependence between decisions (the same test items every generation included);
- `fallback` (the default): as `spending`, and a decision whose test passed hands its level on to the next (the
  online fallback procedure, Tian & Ramdas 2021, arXiv:1910.04900): the same run-wise guarantee, and a run that
  keeps improving keeps its power where plain spending tests the eighth decision at alpha / 105.
A fresh test sample every generation is not needed for the guarantee, and would cost a champion evaluation a
generation and many more test labels read.

**No drift.** Judging each promotion against the champion alone lets small losses add up: a level that loses
1.5 points a generation passes every time (under a 2-point tolerance, never significant) and ends 7.5 points down
after five promotions. So the reference of a mastered level is the best any champion of the run (the seed included) has
shown there, and the test is one of non-inferiority: on a level with `min_items` items or more the successor must
show that it holds (its one-sided lower bound at least the best champion's lower bound, less `tolerance`); a
smaller level (1-digit addition has 13 test items) cannot show anything, so it fails only on evidence of a fall
(its upper bound below the best champion's upper bound, less `tolerance`). Comparing a bound with the same bound
of the reference keeps a good successor (99% on 500 items) from failing on the reference's luck, which a point
reference does most of the time. The bounds are exact Clopper-Pearson, one-sided at `regression_alpha` over the
mastered levels (Bonferroni). The default tolerance is 3 points: at 2, about one in eleven good successors that share
few answers with their champion was refused in a single decision (0.25% at 3), and the drift is stopped alike.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import pi

from pipeline.ml.evaluate import counts, frontier, per_level
from pipeline.ml.stats import clopper_pearson, discordant, mcnemar_exact
from tasks import Problem

CORRECTIONS = ("none", "spending", "fallback")


@dataclass(frozen=True)
class Decision:
    """What the gate decided and the numbers it decided on; verdict.json records it with the run's own bookkeeping
    (`pipeline.core.records.Verdict` extends it, so both have one set of fields)."""

    promoted: bool
    reason: str
    p_value: float | None
    wins: int
    losses: int
    gate_levels: list[int]
    champion_frontier: int
    successor_frontier: int
    champion_accuracy: dict[int, float]
    successor_accuracy: dict[int, float]
    regressions: dict[int, float] = field(default_factory=dict)  # level -> accuracy below the best champion's, for the levels that did not hold
    alpha: float | None = None  # the level this decision was tested at (None: the seed, no decision)
    items: dict[int, int] = field(default_factory=dict)  # test items per level
    reference: dict[int, int] = field(default_factory=dict)  # mastered level -> the most items any champion of the run got right there


def right(items: Sequence[Problem], correct: Sequence[bool]) -> dict[int, int]:
    """Right answers at each level."""
    out: dict[int, int] = {}
    for p, ok in zip(items, correct):
        out[p.level] = out.get(p.level, 0) + ok
    return out


def most(tallies: Iterable[dict[int, int]]) -> dict[int, int]:
    """The most right answers at each level over several models' `right` tallies on the same items."""
    out: dict[int, int] = {}
    for tally in tallies:
        for lv, k in tally.items():
            out[lv] = max(out.get(lv, 0), k)
    return out


@dataclass
class Gate:
    alpha: float = 0.05  # false promotion: per decision under correction none, over the whole run otherwise
    correction: str = "fallback"  # none | spending | fallback: how alpha is spread over a run's decisions
    window: int = 1  # how many levels past the champion's frontier count as "frontier levels"
    tolerance: float = 0.03  # how far below the best champion's a mastered level may end a promotion
    threshold: float = 0.9  # accuracy that counts a level as mastered (defines the frontier)
    regression_alpha: float = 0.05  # chance of passing a mastered level that did not hold, over all of them
    min_items: int = 30  # a level with fewer test items is too small to count for or against the frontier, or to show it holds

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(f"gate correction must be one of {', '.join(CORRECTIONS)}, got '{self.correction}'")

    def level(self, earlier: Sequence[float]) -> float:
        """The significance level of a run's next decision, after decisions with p-values `earlier` (in order)."""
        levels: list[float] = []
        for g in range(1, len(earlier) + 2):
            if self.correction == "none":
                levels.append(self.alpha)
                continue
            passed_on = levels[-1] if self.correction == "fallback" and levels and earlier[g - 2] < levels[-1] else 0.0
            levels.append(self.alpha * 6 / (pi**2 * g**2) + passed_on)
        return levels[-1]

    def frontier(self, items: list[Problem], correct: list[bool]) -> int:
        """The frontier of one model's answers, by the gate's own rule."""
        return frontier(per_level(items, correct), self.threshold, counts(items), self.min_items)

    def unheld(self, n: dict[int, int], successor: dict[int, int], reference: dict[int, int], mastered: int) -> dict[int, float]:
        """Mastered levels (1..mastered, of `n` items each) the successor, with `successor` right answers, does not hold
        against the most right answers any champion of the run had there (`reference`); with how far below it ends."""
        levels = [lv for lv in range(1, mastered + 1) if n.get(lv)]
        tail = self.regression_alpha / max(1, len(levels))
        out = {}
        for lv in levels:
            (low_s, high_s), (low_r, high_r) = (clopper_pearson(k, n[lv], 1 - 2 * tail) for k in (successor.get(lv, 0), reference[lv]))
            if (low_s < low_r - self.tolerance) if n[lv] >= self.min_items else (high_s < high_r - self.tolerance):
                out[lv] = round((reference[lv] - successor.get(lv, 0)) / n[lv], 4)
        return out

    def first(self, items: list[Problem], successor: list[bool]) -> Decision:
        """The seed's verdict: there is no champion to beat, so it is promoted and only measured."""
        return Decision(True, "the seed is the first champion", None, 0, 0, [], 0, self.frontier(items, successor), {}, per_level(items, successor),
                       items=counts(items))

    def decide(self, items: list[Problem], champion: list[bool], successor: list[bool], alpha: float | None = None,
               earlier: dict[int, int] | None = None) -> Decision:
        """Compare per-item correctness of the two models on the same `items`, at level `alpha` (this decision's
        `level` in the run; the gate's alpha when None), holding the mastered levels to the most right answers of the
        champion and the run's `earlier` champions (`most` of their `right` tallies on `items`)."""
        alpha = self.alpha if alpha is None else alpha
        n, acc_c, acc_s = counts(items), per_level(items, champion), per_level(items, successor)
        f_c, f_s = (frontier(acc, self.threshold, n, self.min_items) for acc in (acc_c, acc_s))
        levels = [lv for lv in range(f_c + 1, f_c + 1 + self.window) if lv in acc_c]
        at = [i for i, p in enumerate(items) if p.level in levels]
        wins, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
        p = mcnemar_exact(wins, losses)
        reference = {lv: k for lv, k in most([right(items, champion), earlier or {}]).items() if lv <= f_c}
        drops = self.unheld(n, right(items, successor), reference, f_c)
        if not levels:
            promoted, reason = False, f"no level past the champion's frontier {f_c} is on the test ladder (eval.max_level caps it)"
        elif drops:
            promoted, reason = False, (f"did not hold mastered level(s) {sorted(drops)}: not shown within {self.tolerance:.0%} of the best "
                                       f"champion's accuracy there (one-sided bounds at {self.regression_alpha}/{len(reference)})")
        elif p < alpha and wins > losses:
            promoted, reason = True, f"better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} < {alpha:.3g}"
        else:
            promoted, reason = False, f"not significantly better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} >= {alpha:.3g}"
        return Decision(promoted, reason, p, wins, losses, levels, f_c, f_s, acc_c, acc_s, drops, alpha, n, reference)
