"""Consistency: majority voting plus the task's own symmetries, still without ground truth.

The champion must give the same answer to every equivalent form of a problem (for addition,
a + b and b + a) and enough of k samples must agree. A length-generalising model's errors
depend on where the longer operand sits, so a wrong label rarely survives the swap: on one
run's level-6 labels (89% correct) majority voting kept labels that were 93% correct, the
swap check 99% (see README, "Judges").
"""
from __future__ import annotations

from pipeline.judges.base import JudgeInput
from pipeline.judges.majority import MajorityJudge
from pipeline.sampling import greedy


class ConsistencyJudge(MajorityJudge):
    def keep(self, inp: JudgeInput) -> list[bool]:
        voted = super().keep(inp)
        forms = [inp.task.equivalents(p) for p in inp.prompts]
        answers = greedy(inp.model, inp.tokenizer, [q for f in forms for q in f])
        keep, i = [], 0
        for ok, f, label in zip(voted, forms, inp.labels):
            keep.append(ok and all(a == label for a in answers[i : i + len(f)]))
            i += len(f)
        return keep
