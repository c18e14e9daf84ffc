"""Self-consistency: keep a label when enough of k sampled answers agree with it.

Lee et al. vote across independently trained models; sampling k answers from the champion
at a temperature is the cheap single-model form of the same idea. Where the model is
unsure of a digit, samples disagree and the label is dropped.
"""
from __future__ import annotations

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.ml.sampling import generate


class MajorityJudge(Judge):
    threshold_field = "threshold"

    def __init__(self, k: int = 5, threshold: float = 0.8, temperature: float = 1.0, require_format: bool = True) -> None:
        if k < 1 or not 0.0 < threshold <= 1.0 or temperature <= 0:
            raise ValueError(f"majority judge needs k >= 1, 0 < threshold <= 1, temperature > 0 (got {k}, {threshold}, {temperature})")
        self.k, self.threshold, self.temperature, self.require_format = k, threshold, temperature, require_format

    def uses(self) -> frozenset[str]:
        return frozenset({"well_formed"} if self.require_format else ())

    def agreement(self, inp: JudgeInput) -> list[float]:
        """Share of the k samples that equal the champion's greedy label."""
        samples = generate(inp.model, inp.tokenizer, inp.prompts, temperature=self.temperature, num_samples=self.k, seed=inp.seed)
        return [sum(s == label for s in votes) / self.k for votes, label in zip(samples, inp.labels)]

    def keep(self, inp: JudgeInput) -> list[bool]:
        agree = self.agreement(inp)
        return [
            a >= self.threshold and (not self.require_format or inp.task.well_formed(p, label))
            for a, p, label in zip(agree, inp.prompts, inp.labels)
        ]
