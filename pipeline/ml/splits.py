"""Held-out items, kept out of training by hash: the gate's test ladder, the dev ladder and the audit ladder.

Every prompt falls in one of 100 buckets by its SHA-256. The first few buckets belong to `test` (the gate
only), the next few to `dev` (weaknesses, pilots, training checks), the next few to `audit` (the shadow
audit only, so its verdict is independent of the gate's items), the rest to `train`. Anything that samples
training problems rejects prompts outside the train buckets, so a held-out item can never reach training
or the judge; `Splits.contamination` proves it on the actual data, by bucket, for the whole of each
graded split rather than the items one ladder happens to hold.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable

from tasks import Problem, Task

SPLITS = ("test", "dev", "audit", "train")
#: the splits whose items grade a model: a training row in one of them would inflate the grade
GRADED = ("test", "audit")


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


class Splits:
    """Assigns prompts to test/dev/audit/train buckets; `test_pct`, `dev_pct`, `audit_pct` are percentages of the space.

    The buckets are laid out in that order, so adding the audit split leaves the test and dev ladders as they
    were and takes its share from training."""

    def __init__(self, test_pct: int = 10, dev_pct: int = 10, audit_pct: int = 10) -> None:
        if test_pct + dev_pct + audit_pct >= 100 or min(test_pct, dev_pct, audit_pct) < 1:
            raise ValueError(f"split percentages must be >= 1 and leave room for training (got test {test_pct}, dev {dev_pct}, audit {audit_pct})")
        self.test_pct, self.dev_pct, self.audit_pct = test_pct, dev_pct, audit_pct

    def of(self, prompt: str) -> str:
        bucket = int(prompt_hash(prompt)[:8], 16) % 100
        for split, upto in zip(SPLITS, (self.test_pct, self.test_pct + self.dev_pct, self.test_pct + self.dev_pct + self.audit_pct)):
            if bucket < upto:
                return split
        return "train"

    def contamination(self, prompts: Iterable[str]) -> int:
        """How many of `prompts` belong to a graded split (the gate's test split or the audit's)."""
        return sum(self.of(p) in GRADED for p in prompts)

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
        """Distinct held-out items at each level, the same for every model evaluated on them. Each level's draw is seeded by
        (split, seed, level) alone, so a level's items do not depend on which other levels were asked for, or when."""
        items: list[Problem] = []
        for level in levels:
            rng = random.Random(f"{split}-{seed}-{level}")
            items += self.draw(split, per_level, lambda r, lv=level: task.sample_level(lv, r), rng, distinct=True)
        return items
