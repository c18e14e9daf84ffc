"""Judges that need no extra model calls: none, oracle, noisy oracle, and format/length."""
from __future__ import annotations

import random

from pipeline.components.judges.base import Judge, JudgeInput


class NoJudge(Judge):
    """Keeps everything: pure self-training, the setting where errors snowball."""

    def keep(self, inp: JudgeInput) -> list[bool]:
        return [True] * len(inp.prompts)


class OracleJudge(Judge):
    """Keeps exactly the correct labels. Reads ground truth: an upper bound, not autonomy."""

    reads_ground_truth = True

    def keep(self, inp: JudgeInput) -> list[bool]:
        assert inp.truth is not None, "the oracle judge needs ground truth"
        return [label == truth for label, truth in zip(inp.labels, inp.truth)]


class NoisyOracleJudge(Judge):
    """The oracle's decision, flipped with probability `p`: a judge of known, tunable quality."""

    reads_ground_truth = True

    def __init__(self, p: float = 0.1) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"noisy_oracle p must lie in [0, 1], got {p}")
        self.p = p

    def keep(self, inp: JudgeInput) -> list[bool]:
        rng = random.Random(inp.seed)
        exact = OracleJudge().keep(inp)
        return [ok != (rng.random() < self.p) for ok in exact]


class LengthJudge(Judge):
    """Keeps answers whose length and characters fit the prompt (the task's format rule)."""

    def uses(self) -> frozenset[str]:
        return frozenset({"well_formed"})

    def keep(self, inp: JudgeInput) -> list[bool]:
        return [inp.task.well_formed(p, a) for p, a in zip(inp.prompts, inp.labels)]
