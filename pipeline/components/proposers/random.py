"""Seeded random mutation of the champion's recipe: the control for "do the rules beat chance?"."""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.components.proposers.base import Proposer, candidate
from pipeline.core.records import Candidate, Recipe, Weaknesses

#: one mutation per knob; each returns the keys it changes (a fresh model sets its size too)
MUTATIONS: dict[str, Callable[[Recipe, random.Random], dict[str, Any]]] = {
    "steps": lambda r, g: {"steps": max(1, int(r.steps * g.choice([0.5, 2.0])))},
    "lr": lambda r, g: {"lr": r.lr * g.choice([0.5, 2.0])},
    "new_share": lambda r, g: {"new_share": round(min(0.9, max(0.1, r.new_share + g.choice([-0.2, 0.2]))), 3)},
    "temperature": lambda r, g: {"temperature": g.choice([0.0, 0.5, 1.0])},
    "judge_threshold": lambda r, g: {"judge_threshold": g.choice([None, 0.95, 0.999])},
    # sizes stay within the smoke build budget (hidden 128 x 4 layers is ~1.05M parameters)
    "fresh": lambda r, g: {"warm_start": False, "hidden": g.choice([32, 64, 128]), "layers": g.choice([2, 4]), "heads": 4},
}


class RandomProposer(Proposer):
    def __init__(self, max_keys: int = 2, tries: int = 50) -> None:
        self.max_keys, self.tries = max_keys, tries

    def ideas(self, report: Weaknesses, champion: Recipe, history: list[Weaknesses], seed: int) -> Iterable[Candidate]:
        """Each idea mutates 1..max_keys knobs picked by a generator seeded with `seed` alone."""
        rng = random.Random(f"random-proposer-{seed}")
        for i in range(self.tries):
            knobs = rng.sample(sorted(MUTATIONS), rng.randint(1, self.max_keys))
            changes: dict[str, Any] = {}
            for knob in knobs:
                changes.update(MUTATIONS[knob](champion, rng))
            yield candidate(f"random-{i + 1}", champion, changes, f"random mutation of {', '.join(knobs)} (seed {seed})", report.describe())
