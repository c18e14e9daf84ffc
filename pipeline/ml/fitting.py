"""Training a generation's model, shared by the seed, the train stage and a controlled gate's control.

`train_generation` trains with a recipe and saves the model as the generation's `train/model`; `LevelChecks`
asks dev items, while it trains, whether every level has been learned; `starting_point` and `earlier_sources`
are the model and the earlier data a generation's training (and its control's) start from.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.components.scorers import Scorer
from pipeline.core.context import Context
from pipeline.core.records import Recipe
from pipeline.core.rundir import atomic_dir
from pipeline.core.truth import DECIDE
from pipeline.ml.evaluate import per_level
from pipeline.ml.model import build_model, load, n_params, save
from pipeline.ml.training import Encoded, encode, train, train_flops
from tasks import Problem


def train_recipe(model: torch.nn.Module, sources: list[tuple[Encoded, float]], recipe: dict[str, Any], seed: int, **options: Any) -> list[dict[str, float]]:
    """`training.train` on a recipe's schedule (steps, batch size, lr, warmup): a generation's training and a
    `stage/verify=controlled` control, which must train exactly alike. `recipe` is plain JSON, as a pilot's is: a
    `Recipe.to_json()`, or the seed's schedule (which is no `Recipe`: it has no round to mix or label)."""
    return train(model, sources, steps=recipe["steps"], batch_size=recipe["batch_size"], lr=recipe["lr"], warmup=recipe["warmup"],
                 seed=seed, **options)


class LevelChecks:
    """Dev-accuracy checks of a model while it trains, every level of `items` at once, each recorded in `checks`:
    the questions `training.train` asks (`learned`, `finished`) about the seed and about a generation.
    The answers are the dev items' (true ones, counted as deciding, or label-free by `scorer`)."""

    def __init__(self, ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, items: list[Problem], scorer: Scorer | None = None) -> None:
        self.ctx, self.model, self.tok, self.items, self.scorer = ctx, model, tok, items, scorer
        self.checks: list[dict[str, Any]] = []

    def at(self, step: int, bar: float | Callable[[int], float]) -> bool:
        """Whether every level reaches `bar` (one for all, or each level's own) at `step`: the check already made at
        that step, else a new one."""
        if not self.checks or self.checks[-1]["step"] != step:
            acc = per_level(self.items, self.ctx.correctness(self.model, self.tok, self.items, DECIDE, self.scorer))
            self.checks.append({"step": step, "accuracy": acc})
        return _meets(self.checks[-1]["accuracy"], bar)

    def reaches(self, bar: float | Callable[[int], float], offset: int = 0) -> Callable[[int], bool]:
        """`at` as `training.train` calls it, with its steps counted from `offset` (a run continued by a second `train_generation`)."""
        return lambda step: self.at(offset + step, bar)

    def first(self, bar: float, before: int | None = None) -> int | None:
        """The first checked step (before `before`) at which every level reached `bar`."""
        return next((c["step"] for c in self.checks if (before is None or c["step"] < before) and _meets(c["accuracy"], bar)), None)


def _meets(accuracy: dict[int, float], bar: float | Callable[[int], float]) -> bool:
    """Whether every level's accuracy reaches `bar`: one for all, or each level's own."""
    return all(a >= (bar(level) if callable(bar) else bar) for level, a in accuracy.items())


def train_generation(ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: dict[str, Any],
        seed: int, learned: Callable[[int], bool] | None = None, finished: Callable[[int], bool] | None = None,
        check_every: int = 100) -> dict[str, Any]:
    """Train `model` with `recipe` on `sources`, save it as this generation's `train/model` and return
    what train.json records (with `learned` or `finished`, asked every `check_every` steps, `recipe["steps"]` is a cap:
    see `training.train`). A non-finite loss raises `NonFiniteLoss` before anything is saved."""
    start = time.time()
    curve = train_recipe(model, sources, recipe, seed, description=f"gen {ctx.gen} train", learned=learned, finished=finished,
                         check_every=check_every, stop_on_nonfinite=True,
                         log=lambda step, point: ctx.log({f"train/{k}": v for k, v in point.items()}))
    seconds = time.time() - start
    with atomic_dir(ctx.out("train") / "model") as tmp:
        save(model, tok, tmp)
    return {
        "recipe": recipe,
        "params": n_params(model),
        "steps": curve[-1]["step"] + 1,
        "seconds": round(seconds, 2),
        "flops": train_flops(n_params(model), curve[-1]["tokens"]),
        "final_loss": curve[-1]["loss"],
        "curve": curve,
    }


def starting_point(ctx: Context, recipe: Recipe) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """The model this generation's training starts from: the champion (warm start) or a fresh model of the recipe's size."""
    model, tok = load(ctx.champion_dir, ctx.device)
    if not recipe.warm_start:
        model = build_model(tok, recipe.hidden, recipe.layers, recipe.heads, seed=ctx.cfg.seed + ctx.gen).to(ctx.device)
    return model, tok


def earlier_sources(ctx: Context, tok: PreTrainedTokenizerFast, share: float) -> list[tuple[Encoded, float]]:
    """The earlier data, encoded in the `data` policy's groups, their shares scaled to `share` of a batch."""
    return [(encode(tok, rows["prompt"], rows["answer"]), share * part) for rows, part in ctx.earlier()]


def generation_seed(ctx: Context) -> int:
    """The seed of this generation's training: its data order (the successor's, and a control's in `stage/verify=controlled`)."""
    return ctx.cfg.seed * 1000 + ctx.gen
