"""The promotion rule: is the successor genuinely better than the champion on the same items?

Two conditions, both on the gate's held-out test ladder:
- on the frontier levels (just past the champion's frontier) the successor wins significantly
  more discordant items than it loses (exact one-sided McNemar, p < alpha);
- on no level the champion has mastered (1..frontier) does the successor lose more than
  `tolerance` accuracy. ReST-EM showed test accuracy can regress while training looks fine.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.evaluate import frontier, per_level
from pipeline.stats import discordant, mcnemar_exact
from tasks import Problem


@dataclass
class Verdict:
    promoted: bool
    reason: str
    p_value: float
    wins: int
    losses: int
    gate_levels: list[int]
    champion_frontier: int
    successor_frontier: int
    champion_accuracy: dict[int, float]
    successor_accuracy: dict[int, float]
    regressions: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Gate:
    alpha: float = 0.05
    window: int = 1  # how many levels past the champion's frontier count as "frontier levels"
    tolerance: float = 0.02  # largest accuracy drop allowed on a mastered level
    threshold: float = 0.9  # accuracy that counts a level as mastered (defines the frontier)

    def decide(self, items: list[Problem], champion: list[bool], successor: list[bool]) -> Verdict:
        """Compare per-item correctness of the two models on the same `items`."""
        acc_c, acc_s = per_level(items, champion), per_level(items, successor)
        f_c, f_s = frontier(acc_c, self.threshold), frontier(acc_s, self.threshold)
        levels = [lv for lv in range(f_c + 1, f_c + 1 + self.window) if lv in acc_c]
        at = [i for i, p in enumerate(items) if p.level in levels]
        wins, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
        p = mcnemar_exact(wins, losses)
        drops = {lv: round(acc_c[lv] - acc_s[lv], 4) for lv in range(1, f_c + 1) if acc_c[lv] - acc_s[lv] > self.tolerance}
        if not levels:
            promoted, reason = False, f"no level past the champion's frontier {f_c} is on the test ladder; raise eval.max_level"
        elif drops:
            promoted, reason = False, f"regressed on mastered level(s) {sorted(drops)} by more than {self.tolerance:.0%}"
        elif p < self.alpha and wins > losses:
            promoted, reason = True, f"better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} < {self.alpha}"
        else:
            promoted, reason = False, f"not significantly better on levels {levels}: {wins} wins vs {losses} losses, p={p:.2g} >= {self.alpha}"
        return Verdict(promoted, reason, p, wins, losses, levels, f_c, f_s, acc_c, acc_s, drops)
