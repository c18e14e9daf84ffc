"""The proposer interface: from a weaknesses report and the champion's recipe, K candidate recipes.

A candidate (`records.Candidate`) is a recipe with its id, what it changes ({key: [old, new]}), why, and for which weakness.
The first candidate is always the champion's recipe unchanged: the control every idea is measured against.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from pipeline.core.records import Candidate, Recipe, Weaknesses


def candidate(cid: str, champion: Recipe, changes: dict[str, Any], rationale: str, weakness: str) -> Candidate:
    """The champion's recipe with `changes` applied; `changes` keeps only the keys that really change."""
    diff = {k: [getattr(champion, k), v] for k, v in changes.items() if getattr(champion, k) != v}
    return Candidate(id=cid, recipe=champion.replace(**changes), changes=diff, rationale=rationale, weakness=weakness)


#: the candidate that is the champion's own recipe: interpret measures gains against it, select falls back to it
CONTROL = "champion"


def control(champion: Recipe) -> Candidate:
    return candidate(CONTROL, champion, {}, "control", "none: the champion's recipe unchanged")


class Proposer(ABC):
    """Turns a weaknesses report into candidate recipes."""

    def propose(self, report: Weaknesses, champion: Recipe, history: list[Weaknesses], k: int, seed: int) -> list[Candidate]:
        """The control first, then the first k-1 ideas that change the recipe and differ from each other.

        `history` holds earlier generations' weaknesses reports, oldest first.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1 (the control), got {k}")
        out = [control(champion)]
        for idea in self.ideas(report, champion, history, seed):
            if len(out) == k:
                break
            if idea.changes and all(idea.recipe != c.recipe for c in out):
                out.append(idea)
        return out

    @abstractmethod
    def ideas(self, report: Weaknesses, champion: Recipe, history: list[Weaknesses], seed: int) -> Iterable[Candidate]:
        """Ideas, most promising first (finitely many); `propose` keeps the first distinct ones."""
