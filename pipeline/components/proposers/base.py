"""The proposer interface: from a weaknesses report and the champion's recipe, K candidate recipes.

A candidate is a plain dict {"id", "recipe", "changes": {key: [old, new]}, "rationale", "weakness"}.
The first candidate is always the champion's recipe unchanged: the control every idea is measured against.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Candidate = dict[str, Any]
Recipe = dict[str, Any]


@dataclass
class Report:
    """A weaknesses.json read back (JSON turns its integer level keys into strings; this turns them back)."""

    frontier: int
    threshold: float
    accuracy: dict[int, float]
    errors: dict[int, dict[str, float]]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Report:
        return cls(
            frontier=int(data["frontier"]),
            threshold=float(data["threshold"]),
            accuracy={int(k): float(v) for k, v in data["per_level_accuracy"].items()},
            errors={int(k): v for k, v in data.get("errors", {}).items()},
        )

    @property
    def next_level(self) -> int | None:
        """The level the generation works on (frontier + 1), None when every level is mastered."""
        return self.frontier + 1 if self.frontier + 1 in self.accuracy else None

    def malformed_share(self, level: int) -> float:
        """Share of the errors at `level` that are format failures (wrong length or characters)."""
        err = self.errors.get(level, {})
        return err.get("malformed", 0) / err["errors"] if err.get("errors") else 0.0

    def describe(self, level: int | None = None) -> str:
        """One weakness in words, e.g. "level 7 accuracy 0.42 < 0.9, wrong digits"."""
        level = self.next_level if level is None else level
        if level is None:
            return f"every level up to {self.frontier} at accuracy >= {self.threshold}"
        kind = "malformed" if self.malformed_share(level) > 0.5 else "wrong digits"
        return f"level {level} accuracy {self.accuracy[level]:.2f} < {self.threshold}, {kind}"


def candidate(cid: str, champion: Recipe, changes: Recipe, rationale: str, weakness: str) -> Candidate:
    """The champion's recipe with `changes` applied; `changes` keeps only the keys that really change."""
    diff = {k: [champion.get(k), v] for k, v in changes.items() if champion.get(k) != v}
    return {"id": cid, "recipe": {**champion, **changes}, "changes": diff, "rationale": rationale, "weakness": weakness}


#: the candidate that is the champion's own recipe: interpret measures gains against it, select falls back to it
CONTROL = "champion"


def control(champion: Recipe) -> Candidate:
    return candidate(CONTROL, champion, {}, "control", "none: the champion's recipe unchanged")


class Proposer(ABC):
    """Turns a weaknesses report into candidate recipes."""

    def propose(self, weaknesses: dict[str, Any], champion: Recipe, history: list[dict[str, Any]], k: int, seed: int) -> list[Candidate]:
        """The control first, then the first k-1 ideas that change the recipe and differ from each other.

        `history` holds earlier generations' weaknesses reports, oldest first.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1 (the control), got {k}")
        out = [control(champion)]
        for idea in self.ideas(Report.of(weaknesses), champion, [Report.of(h) for h in history], seed):
            if len(out) == k:
                break
            if idea["changes"] and all(idea["recipe"] != c["recipe"] for c in out):
                out.append(idea)
        return out

    @abstractmethod
    def ideas(self, report: Report, champion: Recipe, history: list[Report], seed: int) -> Iterable[Candidate]:
        """Ideas, most promising first (finitely many); `propose` keeps the first distinct ones."""
