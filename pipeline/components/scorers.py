"""Scorers: is a model's answer to an item right? With the true answer, or estimated without one.

A stage that measures a model per item (weaknesses, the pilots, the gate) asks its scorer. The
`truth` scorer compares with the true answer, read through the counted path (`pipeline.core.truth`);
the label-free scorers read no answer at all and stand in for it where no human label may be read
(`humans=none`): `self_consistency` counts an answer when the model gives it on the problem and on
every equivalent form with every token at least `min_confidence` sure (the consistency judge's
rule), `confidence` when it is that sure on the problem alone, `split` when its answers to the
problem's halves imply it (the split judge's rule; self-consistency where the task cannot cut).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.components.judges.consistency import ConsistencyJudge
from pipeline.components.judges.split import SplitJudge
from pipeline.core.knowledge import Component
from pipeline.ml.sampling import confidence
from tasks import Problem, Task

#: compares answers with the true ones: (items, answers) -> per-item correct, counted by the caller's ledger
Check = Callable[[Sequence[Problem], Sequence[str]], list[bool]]


class Scorer(Component, ABC):
    role = "scorer"
    #: whether `score` needs `check` (true answers); label-free scorers never call it
    needs_answers: bool = False

    def uses(self) -> frozenset[str]:
        """The true answers (`solve`) for a scorer that compares with them; subclasses add the hooks they read."""
        return frozenset({"solve"}) if self.needs_answers else frozenset()

    @abstractmethod
    def score(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: Sequence[Problem],
              answers: Sequence[str], check: Check | None) -> list[bool]:
        """Per item: is the model's `answers[i]` to `items[i]` right (or, label-free, trusted as right)?"""


class TrueAnswers(Scorer):
    """Exact match with the true answer: ground truth, counted."""

    needs_answers = True

    def score(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: Sequence[Problem],
              answers: Sequence[str], check: Check | None) -> list[bool]:
        if check is None:
            raise ValueError("the truth scorer needs true answers (check) to compare with")
        return check(items, answers)


class JudgedScorer(Scorer):
    """Label-free: an answer counts as right when a label-free judge would keep it as a training label."""

    judge: Judge

    def uses(self) -> frozenset[str]:
        return self.judge.uses()

    def needs(self) -> frozenset[str]:
        return self.judge.needs()

    def score(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: Sequence[Problem],
              answers: Sequence[str], check: Check | None) -> list[bool]:
        return self.judge.keep(JudgeInput(task, [p.prompt for p in items], list(answers), model, tokenizer, seed=0))


class SelfConsistency(JudgedScorer):
    """The model gives the answer on every equivalent form (a + b and b + a), each token sure."""

    def __init__(self, min_confidence: float = 0.9) -> None:
        self.judge = ConsistencyJudge(min_confidence=min_confidence)


class SplitCheck(JudgedScorer):
    """The model's answers to the problem's halves (problems of about half its length) imply this answer,
    each of their tokens at least `min_confidence` likely; self-consistency at the same bar decides problems
    the task cannot cut."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        self.judge = SplitJudge(min_confidence=min_confidence, uncut=ConsistencyJudge(min_confidence=min_confidence))


class Confidence(Scorer):
    """Label-free: a well-formed answer whose every token the model gives at least `min_confidence`."""

    def __init__(self, min_confidence: float = 0.9) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        self.min_confidence = min_confidence

    def uses(self) -> frozenset[str]:
        return frozenset({"well_formed"})

    def score(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: Sequence[Problem],
              answers: Sequence[str], check: Check | None) -> list[bool]:
        prompts = [p.prompt for p in items]
        sure = confidence(model, tokenizer, prompts, list(answers))
        return [s >= self.min_confidence and task.well_formed(p, a) for s, p, a in zip(sure, prompts, answers)]
