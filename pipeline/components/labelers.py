"""Labelers: how the champion's answers become the labels a judge keeps or drops. No ground truth.

`greedy` labels each problem with the champion's answer to it, as Lee et al. do. `equivalents` also
asks the champion every equivalent form of the problem (for addition, b + a for a + b) and labels the
problem with the answer the judge keeps on any form, when the kept forms agree. Why: a NoPE model
that has just learnt a level often solves it in one operand order only. Measured on two champions
of weak seeds: 1..4-digit + 6-digit answered 1.00 right, 6-digit + 1..4-digit 0.00;
at level 7 another seed's champion answered k + 7 0.82-0.95 right and 7 + k 0.00-0.10. A judge
that asks each problem as given keeps the order the champion already solves and starves the other; the
same answers, read through the symmetry, label it.

`split` labels a problem with the answer its pieces' answers make: for addition the low and high halves of a
cut no carry crosses (`Task.pieces`, `Task.join`: the structure the split judge checks labels with). Why: a
seed can master 1..5 digits and still answer no 6-digit problem right (one seed on an AVX-512 CPU
scored 0.00 on the test ladder at 6 digits, so no judge had a right label to keep), yet it answers the halves of one
(docs/judges-and-labelers.md).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace

from pipeline.components.judges import Judge, JudgeInput
from pipeline.core.knowledge import Component

#: the champion answering prompts (greedy or at the recipe's temperature)
Ask = Callable[[list[str]], list[str]]


class Labeler(Component, ABC):
    role = "labeler"

    @abstractmethod
    def label(self, judge: Judge, inp: JudgeInput, ask: Ask) -> tuple[list[str], list[bool]]:
        """Each problem's label and whether the judge keeps it; `inp.labels` are the champion's
        answers to `inp.prompts`, `ask` gets its answers to other prompts."""


class Greedy(Labeler):
    """The champion's answer to the problem as posed."""

    def label(self, judge: Judge, inp: JudgeInput, ask: Ask) -> tuple[list[str], list[bool]]:
        return list(inp.labels), judge.keep(inp)


class Equivalents(Labeler):
    """The answer the judge keeps on any equivalent form of the problem; dropped when kept forms disagree."""

    def uses(self) -> frozenset[str]:
        return frozenset({"equivalents"})

    def needs(self) -> frozenset[str]:
        """Without equivalent forms it labels as `greedy` does, under another name."""
        return frozenset({"equivalents"})

    def label(self, judge: Judge, inp: JudgeInput, ask: Ask) -> tuple[list[str], list[bool]]:
        labels, kept = list(inp.labels), judge.keep(inp)
        clash = [False] * len(labels)
        forms = [inp.task.equivalents(p) for p in inp.prompts]
        for j in range(max(map(len, forms), default=0)):
            todo = [i for i, f in enumerate(forms) if j < len(f)]
            prompts = [forms[i][j] for i in todo]
            answers = ask(prompts)
            # an equivalent form has the problem's answer, so a judge that reads the truth reads the same one
            truth = [inp.truth[i] for i in todo] if inp.truth is not None else None
            for i, answer, ok in zip(todo, answers, judge.keep(replace(inp, prompts=prompts, labels=answers, truth=truth))):
                if ok and kept[i]:
                    clash[i] |= answer != labels[i]
                elif ok:
                    labels[i], kept[i] = answer, True
        return labels, [k and not c for k, c in zip(kept, clash)]


class Split(Labeler):
    """The answer the champion's answers to the problem's pieces make, where the task can cut it; its answer
    to the problem as posed where it cannot."""

    def uses(self) -> frozenset[str]:
        return frozenset({"pieces", "join"})

    def needs(self) -> frozenset[str]:
        """Without pieces and their join it labels every problem as posed, as `greedy` does, under another name."""
        return frozenset({"pieces", "join"})

    def label(self, judge: Judge, inp: JudgeInput, ask: Ask) -> tuple[list[str], list[bool]]:
        labels = list(inp.labels)
        pieces = [inp.task.pieces(p) for p in inp.prompts]
        asked = [q for qs in pieces for q in qs]
        answers = iter(ask(asked) if asked else [])
        for i, qs in enumerate(pieces):
            joined = inp.task.join(inp.prompts[i], [next(answers) for _ in qs]) if qs else None
            labels[i] = labels[i] if joined is None else joined
        return labels, judge.keep(replace(inp, labels=labels))
