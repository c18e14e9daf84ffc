"""Ground-truth evaluation on a ladder of levels: per-level accuracy and the frontier."""
from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.sampling import greedy
from tasks import Problem, Task


def correctness(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, task: Task, items: list[Problem], batch_size: int = 512
) -> list[bool]:
    """Whether the model's greedy answer to each item is exactly right."""
    answers = greedy(model, tokenizer, [p.prompt for p in items], batch_size)
    return [task.check(p, a) for p, a in zip(items, answers)]


def bits(correct: list[bool]) -> str:
    """Per-item correctness as a compact string, "1" for right and "0" for wrong."""
    return "".join("1" if ok else "0" for ok in correct)


def per_level(items: list[Problem], correct: list[bool]) -> dict[int, float]:
    """Accuracy at each level present in `items`."""
    totals: dict[int, list[int]] = {}
    for p, ok in zip(items, correct):
        totals.setdefault(p.level, []).append(int(ok))
    return {level: sum(v) / len(v) for level, v in sorted(totals.items())}


def frontier(accuracy: dict[int, float], threshold: float) -> int:
    """The highest level L such that every level 1..L reaches `threshold` (0 if level 1 fails)."""
    level = 0
    while accuracy.get(level + 1, 0.0) >= threshold:
        level += 1
    return level
