"""Weakness-driven proposals: a short ordered list of rules, each (condition on the report) -> (recipe change).

With f the frontier and a the dev accuracy at level f+1, in priority order:

  fresh     frontier unchanged for >= 2 x stuck_after earlier reports -> train from scratch, 4x steps
  stuck     frontier unchanged for >= stuck_after earlier reports     -> 2x steps, new_share + 0.2
  format    most errors at f+1 are malformed                          -> lr / 2 (steadier updates)
  far       a < far                                                   -> 2x steps
  noisy     a < noisy: most labels the champion writes at f+1 are wrong -> stricter judge
  close     a >= far: nearly there                                    -> steps / 2 (cheaper)
  margin    accuracy at f within `margin` of the threshold            -> new_share - 0.2 (guard it)
  focus     level f+1 not mastered                                    -> new_share + 0.2
  mastered  no level above f on the ladder                            -> steps / 2 (cheaper)

Each rule fires at most once; `Proposer.propose` keeps the first k-1 that change the recipe.
Every rule is a pure function of the report, the history and the champion's recipe: deterministic.
"""
from __future__ import annotations

from collections.abc import Iterable

from pipeline.components.proposers.base import Proposer, candidate
from pipeline.core.records import Candidate, Recipe, Weaknesses


def stuck_for(report: Weaknesses, history: list[Weaknesses]) -> int:
    """How many earlier reports in a row (latest first) had the same frontier as this one."""
    n = 0
    for old in reversed(history):
        if old.frontier != report.frontier:
            break
        n += 1
    return n


def share(value: float) -> float:
    """new_share kept within [0.1, 0.9]: both the new round and the earlier data always get some batch."""
    return round(min(0.9, max(0.1, value)), 3)


class RulesProposer(Proposer):
    def __init__(self, stuck_after: int = 2, far: float = 0.5, noisy: float = 0.2, margin: float = 0.05, strict_judge: float = 0.999) -> None:
        self.stuck_after, self.far, self.noisy, self.margin, self.strict_judge = stuck_after, far, noisy, margin, strict_judge

    def ideas(self, report: Weaknesses, champion: Recipe, history: list[Weaknesses], seed: int) -> Iterable[Candidate]:
        steps, ns = champion.steps, champion.new_share
        f, nxt = report.frontier, report.next_level
        stuck = stuck_for(report, history)
        if stuck >= 2 * self.stuck_after:
            yield candidate("fresh", champion, {"warm_start": False, "steps": 4 * steps},
                            "fine-tuning has stalled: train a fresh model on all data so far", f"frontier {f} unchanged for {stuck} generations")
        if stuck >= self.stuck_after:
            yield candidate("stuck", champion, {"steps": 2 * steps, "new_share": share(ns + 0.2)},
                            "push harder on the new level: more steps, more of each batch from the new round", f"frontier {f} unchanged for {stuck} generations")
        if nxt is None:
            yield candidate("mastered", champion, {"steps": max(1, steps // 2)}, "nothing left to learn on the ladder: spend less", report.describe())
            return
        a, weakness = report.per_level_accuracy[nxt], report.describe()
        if report.malformed_share(nxt) > 0.5:
            yield candidate("format", champion, {"lr": champion.lr / 2},
                            f"{report.malformed_share(nxt):.0%} of the errors are malformed: smaller updates keep the format it knows", weakness)
        if a < self.far:
            yield candidate("far", champion, {"steps": 2 * steps}, f"accuracy {a:.2f} < {self.far}: far from the level, train longer", weakness)
        if a < self.noisy:
            yield candidate("noisy", champion, {"judge_threshold": self.strict_judge},
                            f"accuracy {a:.2f} < {self.noisy}: most champion labels there are wrong, keep only the surest", weakness)
        if a >= self.far:
            yield candidate("close", champion, {"steps": max(1, steps // 2)}, f"accuracy {a:.2f} >= {self.far}: nearly there, fewer steps are cheaper", weakness)
        if f in report.per_level_accuracy and report.per_level_accuracy[f] < report.threshold + self.margin:
            yield candidate("margin", champion, {"new_share": share(ns - 0.2)}, "more earlier data in each batch so the frontier level is not forgotten",
                            f"level {f} accuracy {report.per_level_accuracy[f]:.2f} within {self.margin} of {float(report.threshold)}")
        yield candidate("focus", champion, {"new_share": share(ns + 0.2)}, "more of each batch from the new round at the weak level", weakness)
