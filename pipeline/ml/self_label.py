"""Self-labelling: the champion answers fresh problems, a labeler makes labels of its answers, a judge keeps some.

Shared by the curate stage (a generation's round) and the experiment stage (each pilot's round), so a pilot
trains on data made exactly as the round it predicts.
"""
from __future__ import annotations

import random
from typing import Any

from pipeline.components.judges import Judge, JudgeInput
from pipeline.components.labelers import Labeler
from pipeline.core.context import Context
from pipeline.core.rundir import JUDGE
from pipeline.core.truth import DECIDE
from pipeline.ml.sampling import generate
from tasks import Problem


def fresh_problems(ctx: Context, levels: list[int], n: int, rng_name: str) -> list[Problem]:
    """Up to `n` distinct training-split problems at `levels` (chosen uniformly) that are not in the earlier data."""
    earlier = set(ctx.pool()["prompt"][:])  # one slice: iterating a column row by row takes seconds
    rng = random.Random(rng_name)
    problems = ctx.splits.draw("train", n, lambda r: ctx.task.sample_level(r.choice(levels), r), rng, distinct=True)
    return [p for p in problems if p.prompt not in earlier]


def judge_input(ctx: Context, prompts: list[str], labels: list[str], model: Any, tok: Any, seed: int) -> JudgeInput:
    """What a judge may see in this run: no true answer, the trusted earlier data, and the run's `judge/` folder."""
    return JudgeInput(ctx.task, prompts, labels, model, tok, seed=seed, earlier=ctx.pool(), workdir=ctx.run.root / JUDGE)


def self_label(ctx: Context, judge: Judge, labeler: Labeler, model: Any, tok: Any, problems: list[Problem], temperature: float,
               seed: int) -> tuple[list[str], list[bool]]:
    """The labels `labeler` makes from the champion's answers (greedy, or sampled at `temperature`) and the
    judge's keep decisions; only a judge that declares it reads ground truth is handed the true answers."""
    def ask(prompts: list[str]) -> list[str]:
        return [a[0] for a in generate(model, tok, prompts, temperature=temperature, seed=seed)]

    prompts = [p.prompt for p in problems]
    inp = judge_input(ctx, prompts, ask(prompts), model, tok, seed)
    if judge.reads_ground_truth:  # an upper bound, not autonomy: the labels it reads decide what is kept
        inp.truth = ctx.truth.answers(problems, DECIDE)
    return labeler.label(judge, inp, ask)
