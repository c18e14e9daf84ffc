"""Split: the champion checks a label on the problem's halves. No ground truth.

A label is kept when the task can cut the problem into shorter ones whose answers the label implies
(for addition, a low and a high half with no carry crossing the cut: tasks/addition.py `parts`) and the
champion gives each implied answer every token with probability >= `min_confidence` (above 0.5: greedy
decoding of each half reproduces it). Why: the confidence-based judges trust the champion where it is
sure, and one level past its frontier it is often sure and wrong, on the hard problems most of all (two
long operands: consistency kept 0-11.5% of them, the committee's copies let wrong ones through). The
halves are problems of the levels it has mastered, so a wrong digit in the label is a wrong answer to an
easy problem, which the champion does not give; and a right label on a hard problem passes as easily as
one on an easy problem. What it reads is the champion's own answers and the task's place-value structure,
which a person wrote down once, like the format rules; no answer of anybody's.
"""
from __future__ import annotations

from dataclasses import replace

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.ml.sampling import confidence


class SplitJudge(Judge):
    threshold_field = "min_confidence"

    def __init__(self, min_confidence: float = 0.9, uncut: Judge | None = None) -> None:
        """`uncut` decides the problems the task cannot cut (for addition: one column, or every column
        carrying); None drops them."""
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        self.min_confidence, self.uncut = min_confidence, uncut

    def uses(self) -> frozenset[str]:
        return frozenset({"parts"}) | (self.uncut.uses() if self.uncut else frozenset())

    def needs(self) -> frozenset[str]:
        """`parts` when nothing decides the uncut problems: on a task without it every problem is uncut, and none is kept."""
        return self.uncut.needs() if self.uncut else frozenset({"parts"})

    def keep(self, inp: JudgeInput) -> list[bool]:
        parts = [inp.task.parts(p, a) for p, a in zip(inp.prompts, inp.labels)]
        owner = [i for i, ps in enumerate(parts) for _ in ps or []]
        flat = [part for ps in parts for part in ps or []]
        sure = confidence(inp.model, inp.tokenizer, [q for q, _ in flat], [a for _, a in flat]) if flat else []
        keep = [bool(ps) for ps in parts]
        for i, s in zip(owner, sure):
            keep[i] &= s >= self.min_confidence
        uncut = [i for i, ps in enumerate(parts) if ps == []]
        if self.uncut is not None and uncut:
            for i, k in zip(uncut, self.uncut.keep(replace(inp, prompts=[inp.prompts[i] for i in uncut], labels=[inp.labels[i] for i in uncut],
                                                              truth=None))):
                keep[i] = k
        return keep
