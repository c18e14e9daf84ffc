"""The judge interface."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerFast

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


class Judge(ABC):
    """Decides, for each (prompt, label), whether the label is trusted enough to train on."""

    #: True only for judges that are allowed the hidden answers (upper bounds)
    reads_ground_truth: bool = False

    @abstractmethod
    def keep(self, inp: JudgeInput) -> list[bool]:
        """One decision per prompt."""
