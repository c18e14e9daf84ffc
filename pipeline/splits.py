"""Held-out items: the gate's test ladder and the dev ladder, kept out of training by hash.

Every prompt falls in one of 100 buckets by its SHA-256. A few buckets belong to `test`
(the gate only), a few to `dev` (weaknesses, pilots), the rest to `train`. Anything that
samples training problems rejects prompts outside the train buckets, so a test item can
never reach training or the judge; `contamination` proves it on the actual data.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable

from tasks import Problem, Task

SPLITS = ("test", "dev", "train")


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


class Splits:
    """Assigns prompts to test/dev/train buckets; `test_pct`, `dev_pct` are percentages of the space."""

    def __init__(self, test_pct: int = 10, dev_pct: int = 10) -> None:
        if test_pct + dev_pct >= 100 or min(test_pct, dev_pct) < 1:
            raise ValueError(f"split percentages must be >= 1 and leave room for training (got {test_pct}, {dev_pct})")
        self.test_pct, self.dev_pct = test_pct, dev_pct

    def of(self, prompt: str) -> str:
        bucket = int(prompt_hash(prompt)[:8], 16) % 100
        if bucket < self.test_pct:
            return "test"
        return "dev" if bucket < self.test_pct + self.dev_pct else "train"

    def draw(self, split: str, n: int, sampler: Callable[[random.Random], Problem], rng: random.Random, distinct: bool = False) -> list[Problem]:
        """`n` problems from `sampler` that fall in `split`; with `distinct`, no prompt twice.

        Small levels have few possible prompts (1-digit addition has 100), so the search
        gives up after 50 tries per wanted item and returns what it found.
        """
        out: list[Problem] = []
        seen: set[str] = set()
        for _ in range(50 * n):
            if len(out) == n:
                break
            p = sampler(rng)
            if self.of(p.prompt) != split or (distinct and p.prompt in seen):
                continue
            seen.add(p.prompt)
            out.append(p)
        return out

    def ladder(self, task: Task, split: str, levels: Iterable[int], per_level: int, seed: int) -> list[Problem]:
        """Distinct held-out items at each level, the same for every model evaluated on them."""
        items: list[Problem] = []
        for level in levels:
            rng = random.Random(f"{split}-{seed}-{level}")
            items += self.draw(split, per_level, lambda r, lv=level: task.sample_level(lv, r), rng, distinct=True)
        return items


def contamination(prompts: Iterable[str], heldout: Iterable[str]) -> int:
    """How many of `prompts` are held-out items, compared by hash."""
    held = {prompt_hash(p) for p in heldout}
    return sum(prompt_hash(p) in held for p in prompts)
