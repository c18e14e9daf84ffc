"""Any of several judges: a label is kept when at least one of them keeps it. No ground truth.

Why: the label-free judges here fail in different places, and each keeps few wrong labels where it
keeps any. The committee (copies of the champion voting) keeps labels from a seed that is right
but not yet sure past its levels, where the consistency judge keeps none (seeds 1 and 4, generation 1:
0 labels one level past the seed); the consistency judge keeps problems with two long operands through
their shorter forms, where the committee's copies disagree and it keeps none (seed 4's level-7 round:
93 of 334 at 0.989 against 0). The union costs the sum of its members.
"""
from __future__ import annotations

from pipeline.components.judges.base import Judge, JudgeInput


class AnyOf(Judge):
    def __init__(self, judges: list[Judge]) -> None:
        if not judges:
            raise ValueError("any_of needs at least one judge")
        if any(j.reads_ground_truth for j in judges):
            raise ValueError("any_of combines label-free judges only; an upper bound reads the truth on its own (judge=oracle)")
        self.judges = list(judges)

    def uses(self) -> frozenset[str]:
        return frozenset().union(*(j.uses() for j in self.judges))

    def needs(self) -> frozenset[str]:
        """A member that cannot work on the task adds nothing to the union: what any member needs, the union needs."""
        return frozenset().union(*(j.needs() for j in self.judges))

    @property
    def threshold_field(self) -> str | None:  # type: ignore[override]
        """A recipe's threshold applies to every member that has one, so 'keep only the surest' holds for each."""
        return "threshold" if any(j.threshold_field for j in self.judges) else None

    def with_threshold(self, threshold: float | None) -> Judge:
        if threshold is None:
            return self
        return AnyOf([j.with_threshold(threshold) if j.threshold_field else j for j in self.judges])

    @property
    def threshold(self) -> float | None:
        """The members' thresholds, when one value was set on all of them (None when they differ)."""
        values = {getattr(j, j.threshold_field) for j in self.judges if j.threshold_field}
        return values.pop() if len(values) == 1 else None

    def keep(self, inp: JudgeInput) -> list[bool]:
        kept = [False] * len(inp.prompts)
        for judge in self.judges:
            kept = [k or new for k, new in zip(kept, judge.keep(inp))]
        return kept
