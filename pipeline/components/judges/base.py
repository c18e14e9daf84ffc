"""The judge interface."""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerFast

from pipeline.core.knowledge import Component
from tasks import Task


@dataclass
class JudgeInput:
    """Everything a judge may look at. `truth` is None unless the judge reads ground truth."""

    task: Task
    prompts: list[str]
    labels: list[str]  # the champion's greedy answers, the candidate training labels
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerFast
    seed: int
    truth: list[str] | None = None
    earlier: Dataset | None = None  # the trusted earlier data (seed ground truth + kept rounds), never this round
    workdir: Path | None = None  # where a judge may keep what it builds (committee members, a verifier), keyed by what shaped it


class Judge(Component, ABC):
    """Decides, for each (prompt, label), whether the label is trusted enough to train on."""

    role = "judge"
    #: True only for judges that are allowed the hidden answers (upper bounds)
    reads_ground_truth: bool = False
    #: the attribute a recipe's `judge_threshold` sets (None: this judge has no threshold)
    threshold_field: str | None = None

    def uses(self) -> frozenset[str]:
        """The true answers (`solve`) for a judge that reads them; subclasses add the hooks they read."""
        return frozenset({"solve"}) if self.reads_ground_truth else frozenset()

    def with_threshold(self, threshold: float | None) -> Judge:
        """This judge with its threshold replaced (itself when `threshold` is None), so a recipe can tune it."""
        if threshold is None:
            return self
        if self.threshold_field is None:
            raise ValueError(f"{type(self).__name__} has no threshold; the recipe's judge_threshold must be null")
        judge = copy.copy(self)
        setattr(judge, self.threshold_field, float(threshold))
        return judge

    @abstractmethod
    def keep(self, inp: JudgeInput) -> list[bool]:
        """One decision per prompt."""


def label_quality(kept: list[bool], correct: list[bool]) -> dict[str, float | None]:
    """Precision, recall and yield of a judge's keep decisions, and the labels' accuracy, against the true answers."""
    n_kept, n_correct = sum(kept), sum(correct)
    both = sum(k and c for k, c in zip(kept, correct))
    return {
        "judge_precision": round(both / n_kept, 4) if n_kept else None,
        "judge_recall": round(both / n_correct, 4) if n_correct else None,
        "judge_yield": round(n_kept / max(1, len(kept)), 4),
        "label_accuracy": round(n_correct / max(1, len(kept)), 4),
    }
