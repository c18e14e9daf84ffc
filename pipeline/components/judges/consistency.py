"""Consistency: the champion must agree with itself, and be sure of it. No ground truth.

A label is kept when (1) it has the right shape, (2) on the problem and on every equivalent
form of it (for addition, b + a and the moved forms: tasks/addition.py) the champion gives each token of the label a
probability of at least `min_confidence`. Above 0.5 that also means greedy decoding of every
form reproduces the label (each token is the argmax), so agreement costs one teacher-forced
pass per form instead of a generation. The two signals fail on different items (a model sure
of a wrong carry often is not sure of it on the swapped problem), so together they filter far
better than either. With the oracle judge the same loop gains about a level per generation:
label precision is what decides how far a loop without ground truth gets.
"""
from __future__ import annotations

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.ml.sampling import confidence, greedy


class ConsistencyJudge(Judge):
    threshold_field = "min_confidence"

    def __init__(self, min_confidence: float = 0.99, require_format: bool = True, equivalents: bool = True) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        self.min_confidence, self.require_format, self.equivalents = min_confidence, require_format, equivalents

    def uses(self) -> frozenset[str]:
        """Not a need: on a task without equivalent forms it is the confident judge, which still keeps labels."""
        return frozenset(({"well_formed"} if self.require_format else set()) | ({"equivalents"} if self.equivalents else set()))

    def keep(self, inp: JudgeInput) -> list[bool]:
        keep = [not self.require_format or inp.task.well_formed(p, a) for p, a in zip(inp.prompts, inp.labels)]
        forms = [[p, *(inp.task.equivalents(p) if self.equivalents else [])] for p in inp.prompts]
        for j in range(max(map(len, forms), default=0)):  # form 0 first: later forms only for survivors
            todo = [i for i, f in enumerate(forms) if keep[i] and j < len(f)]
            prompts, labels = [forms[i][j] for i in todo], [inp.labels[i] for i in todo]
            sure = confidence(inp.model, inp.tokenizer, prompts, labels)
            agrees = greedy(inp.model, inp.tokenizer, prompts) if self.min_confidence <= 0.5 and j else labels
            for i, s, a, label in zip(todo, sure, agrees, labels):
                keep[i] = s >= self.min_confidence and a == label
        return keep
