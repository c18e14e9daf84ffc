"""Consistency: the champion must agree with itself, and be sure of it. No ground truth.

A label is kept when (1) it has the right shape, (2) the champion gives the same answer to
every equivalent form of the problem (for addition, a + b and b + a) and (3) on the problem
and on every equivalent form, the champion gives each token of the label a probability of at
least `min_confidence`. The two signals fail on different items (a model that is sure of a
wrong carry often answers the swapped problem differently, and a model that answers both
forms alike is not always sure), so together they filter far better than either. With the
oracle judge the same loop gains about a level per generation: label precision is what
decides how far a loop without ground truth gets.
"""
from __future__ import annotations

from pipeline.judges.base import Judge, JudgeInput
from pipeline.sampling import confidence, greedy


class ConsistencyJudge(Judge):
    def __init__(self, min_confidence: float = 0.99, require_format: bool = True) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        self.min_confidence, self.require_format = min_confidence, require_format

    def keep(self, inp: JudgeInput) -> list[bool]:
        forms = [[p, *inp.task.equivalents(p)] for p in inp.prompts]
        flat = [q for f in forms for q in f]
        flat_labels = [label for f, label in zip(forms, inp.labels) for _ in f]
        answers = greedy(inp.model, inp.tokenizer, flat)
        sure = confidence(inp.model, inp.tokenizer, flat, flat_labels)
        keep, i = [], 0
        for f, prompt, label in zip(forms, inp.prompts, inp.labels):
            span = range(i, i + len(f))
            i += len(f)
            agrees = all(answers[j] == label and sure[j] >= self.min_confidence for j in span)
            keep.append(agrees and (not self.require_format or inp.task.well_formed(prompt, label)))
        return keep
