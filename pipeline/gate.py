"""The promotion rule: is the successor genuinely better than the champion on the same items?

Two conditions, both on the gate's held-out test ladder:
- on the frontier levels (just past the champion's frontier) the successor wins significantly
  more discordant items than it loses (exact one-sided McNemar, p < alpha);
- on no level the champion has mastered (1..frontier) does the successor regress: a level
  regresses when its accuracy drops by more than `tolerance` AND the drop is significant (exact
  one-sided McNemar on that level's discordant items, p < regression_alpha / the number of mastered
  levels). ReST-EM showed test accuracy can regress while training looks fine; the test is what
  keeps a level with few items (1-digit addition has 13 test items) from failing a good successor
  by chance, where one lost item is already a 7.7-point drop.
Levels with fewer than `min_items` test items are passed over by the frontier (`evaluate.frontier`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.evaluate import counts, frontier, per_level
from pipeline.stats import discordant, mcnemar_exact
from tasks import Problem


@dataclass
class Verdict:
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
    regressions: dict[int, float] = field(default_factory=dict)  # level -> accuracy drop, for the levels that regressed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Gate:
    alpha: float = 0.05
    window: int = 1  # how many levels past the champion's frontier count as "frontier levels"
    tolerance: float = 0.02  # a mastered level's accuracy may drop by this much without counting as a regression
    threshold: float = 0.9  # accuracy that counts a level as mastered (defines the frontier)
    regression_alpha: float = 0.05  # family-wise error of the regression tests over the mastered levels
    min_items: int = 30  # a level with fewer test items is too small to count for or against the frontier

    def frontier(self, items: list[Problem], correct: list[bool]) -> int:
        """The frontier of one model's answers, by the gate's own rule."""
        return frontier(per_level(items, correct), self.threshold, counts(items), self.min_items)

    def regressions(self, items: list[Problem], champion: list[bool], successor: list[bool], mastered: int) -> dict[int, float]:
        """Mastered levels (1..mastered) whose accuracy dropped by more than `tolerance`, significantly."""
        acc_c, acc_s = per_level(items, champion), per_level(items, successor)
        out = {}
        for lv in range(1, mastered + 1):
            if lv not in acc_c or acc_c[lv] - acc_s[lv] <= self.tolerance:
                continue
            at = [i for i, p in enumerate(items) if p.level == lv]
            gains, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
            if mcnemar_exact(losses, gains) < self.regression_alpha / mastered:
                out[lv] = round(acc_c[lv] - acc_s[lv], 4)
        return out

    def first(self, items: list[Problem], successor: list[bool]) -> Verdict:
        """The seed's verdict: there is no champion to beat, so it is promoted and only measured."""
        return Verdict(True, "the seed is the first champion", None, 0, 0, [], 0, self.frontier(items, successor), {}, per_level(items, successor))

    def decide(self, items: list[Problem], champion: list[bool], successor: list[bool]) -> Verdict:
        """Compare per-item correctness of the two models on the same `items`."""
        acc_c, acc_s = per_level(items, champion), per_level(items, successor)
        f_c, f_s = self.frontier(items, champion), self.frontier(items, successor)
        levels = [lv for lv in range(f_c + 1, f_c + 1 + self.window) if lv in acc_c]
        at = [i for i, p in enumerate(items) if p.level in levels]
        wins, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
        p = mcnemar_exact(wins, losses)
        drops = self.regressions(items, champion, successor, f_c)
        if not levels:
            promoted, reason = False, f"no level past the champion's frontier {f_c} is on the test ladder; raise eval.max_level"
        elif drops:
            promoted, reason = False, (f"regressed on mastered level(s) {sorted(drops)}: accuracy down by more than {self.tolerance:.0%}, "
                                       f"significantly (p < {self.regression_alpha}/{f_c})")
        elif p < self.alpha and wins > losses:
            promoted, reason = True, f"better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} < {self.alpha}"
        else:
            promoted, reason = False, f"not significantly better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} >= {self.alpha}"
        return Verdict(promoted, reason, p, wins, losses, levels, f_c, f_s, acc_c, acc_s, drops)
