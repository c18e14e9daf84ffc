"""Evaluation on a ladder of levels: per-item correctness (by a scorer), per-level accuracy and the frontier."""
from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.components.scorers import Check, Scorer
from pipeline.ml.sampling import greedy
from tasks import Problem, Task


def correctness(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: list[Problem], scorer: Scorer,
    check: Check | None, batch_size: int | None = None,
) -> list[bool]:
    """Whether the model's greedy answer to each item is right, as `scorer` tells (with `check`, the
    counted true answers, or label-free without)."""
    answers = greedy(model, tokenizer, [p.prompt for p in items], batch_size)
    return scorer.score(model, tokenizer, task, items, answers, check)


def bits(correct: list[bool]) -> str:
    """Per-item correctness as a compact string, "1" for right and "0" for wrong."""
    return "".join("1" if ok else "0" for ok in correct)


def recorded_or(recorded: str, score: Callable[[list[Problem]], list[bool]]) -> Callable[[list[Problem], int], list[bool]]:
    """Per-item correctness on a ladder's items that start `offset` items in: read off `recorded` (the `bits` of an
    earlier evaluation of the same ladder) where it covers them, else `score`d. Why: a model's answers on a level do
    not change between the stages that ask, and greedy evaluation is most of a gate's time."""

    def answer(items: list[Problem], offset: int) -> list[bool]:
        if len(recorded) >= offset + len(items):
            return [b == "1" for b in recorded[offset:offset + len(items)]]
        return score(items)
    return answer


def per_level(items: list[Problem], correct: list[bool]) -> dict[int, float]:
    """Accuracy at each level present in `items`."""
    totals: dict[int, list[int]] = {}
    for p, ok in zip(items, correct):
        totals.setdefault(p.level, []).append(int(ok))
    return {level: sum(v) / len(v) for level, v in sorted(totals.items())}


def counts(items: list[Problem]) -> dict[int, int]:
    """How many items each level has."""
    out: dict[int, int] = {}
    for p in items:
        out[p.level] = out.get(p.level, 0) + 1
    return dict(sorted(out.items()))


def frontier(accuracy: dict[int, float], threshold: float, sizes: dict[int, int] | None = None, min_items: int = 1) -> int:
    """The highest level L such that every level 1..L reaches `threshold` (0 if level 1 fails).

    A level with fewer than `min_items` items (`sizes`) is too small to judge: one wrong answer out
    of the single 1-digit item of the reverse task would set the frontier to 0. Such a level is passed
    over, neither counting for nor against (the seed trains on it anyway). A level with no items at all is passed over
    alike when `sizes` is given."""
    level = 0
    for lv in range(1, max(accuracy, default=0) + 1):
        judged = sizes is None or sizes.get(lv, 0) >= min_items
        if judged and accuracy.get(lv, 0.0) < threshold:
            break
        level = lv
    return level
