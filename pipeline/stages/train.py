"""Stage 9: train the successor on the recipe and the curated data.

A NaN or infinite loss stops training, and nothing to train on (an empty round the recipe gives all of each batch)
never starts it: the generation is recorded as failed (`train.json` holds the reason, the step and the recipe) and no
weights are saved, so no verify runs on it.

Warm start (fine-tune the champion, as Lee et al. do each round) or from scratch. Batches mix
the newest round with all earlier data (`new_share`); accumulating rather than replacing data
is what keeps self-training from collapsing (Gerstgrasser et al. 2024). The seed (generation 0)
trains through `fit` too, from scratch on its ground truth, and until it has learned its levels, as
`UntilLearned` trains a generation: the recipe's steps are then a cap, not a count.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerFast

from pipeline.context import Context
from pipeline.data import load_rows
from pipeline.evaluate import per_level
from pipeline.model import build_model, load, n_params, save
from pipeline.rundir import atomic_dir, write_json
from pipeline.scoring import Scorer
from pipeline.stages.base import Stage
from pipeline.training import Encoded, NonFiniteLoss, NothingToTrain, encode, train, train_flops
from pipeline.truth import DECIDE
from tasks import Problem


def train_recipe(model: torch.nn.Module, sources: list[tuple[Encoded, float]], recipe: dict[str, Any], seed: int, **options: Any) -> list[dict[str, float]]:
    """`training.train` on a recipe's schedule (steps, batch size, lr, warmup): a generation's training and a
    `stage/verify=controlled` control, which must train exactly alike."""
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
        """`at` as `training.train` calls it, with its steps counted from `offset` (a run continued by a second `fit`)."""
        return lambda step: self.at(offset + step, bar)

    def first(self, bar: float, before: int | None = None) -> int | None:
        """The first checked step (before `before`) at which every level reached `bar`."""
        return next((c["step"] for c in self.checks if (before is None or c["step"] < before) and _meets(c["accuracy"], bar)), None)


def _meets(accuracy: dict[int, float], bar: float | Callable[[int], float]) -> bool:
    """Whether every level's accuracy reaches `bar`: one for all, or each level's own."""
    return all(a >= (bar(level) if callable(bar) else bar) for level, a in accuracy.items())


def fit(ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: dict[str, Any],
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


def starting_point(ctx: Context, recipe: dict[str, Any]) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """The model this generation's training starts from: the champion (warm start) or a fresh model of the recipe's size."""
    model, tok = load(ctx.champion_dir, ctx.device)
    if not recipe["warm_start"]:
        model = build_model(tok, recipe["hidden"], recipe["layers"], recipe["heads"], seed=ctx.cfg.seed + ctx.gen).to(ctx.device)
    return model, tok


def earlier_sources(ctx: Context, tok: PreTrainedTokenizerFast, share: float) -> list[tuple[Encoded, float]]:
    """The earlier data, encoded in the `data` policy's groups, their shares scaled to `share` of a batch."""
    return [(encode(tok, rows["prompt"], rows["answer"]), share * part) for rows, part in ctx.earlier()]


def train_seed(ctx: Context) -> int:
    """The seed of this generation's training: its data order (the successor's, and a control's in `stage/verify=controlled`)."""
    return ctx.cfg.seed * 1000 + ctx.gen


class Train(Stage):
    """The recipe's schedule, all of its steps."""

    name = "train"
    #: whether it answers dev items with the run's scorer while it trains (true answers when the scorer needs them)
    scores_dev: bool = False

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe = ctx.recipe()
        model, tok = starting_point(ctx, recipe)
        new = load_rows(ctx.out("curate") / "data")
        old = earlier_sources(ctx, tok, 1.0 - recipe["new_share"])
        earlier_rows = sum(len(rows) for rows, _ in old)
        sources = [(encode(tok, new["prompt"], new["answer"]), recipe["new_share"]), *old]
        start = time.time()
        try:
            stats = self.fit(ctx, model, tok, sources, recipe, new)
        except (NonFiniteLoss, NothingToTrain) as err:  # no successor: record why (no weights are saved) and let the loop go on
            failed = (f"{err} (recipe lr {recipe['lr']:g}, steps {recipe['steps']}, batch {recipe['batch_size']}, new_share {recipe['new_share']:g}; "
                      f"{len(new)} new rows, {earlier_rows} earlier)")
            write_json(ctx.out(self.name) / "train.json", {"recipe": recipe, "failed": failed, "step": err.step, "seconds": round(time.time() - start, 2)})
            return {"failed": failed}
        stats["train_examples"] = {"new": len(new), "earlier": earlier_rows}
        write_json(ctx.out(self.name) / "train.json", stats)
        return {"steps": stats["steps"], "cap": recipe["steps"], "final_loss": round(stats["final_loss"], 4),
                "steps_per_s": round(stats["steps"] / stats["seconds"], 2), "flops": stats["flops"]}

    def fit(self, ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: dict[str, Any],
            new: Dataset) -> dict[str, Any]:
        """Train on `sources` (the first holds this generation's round, `new`) and save the successor."""
        return fit(ctx, model, tok, sources, recipe, seed=train_seed(ctx))


class UntilLearned(Train):
    """The recipe's steps as a cap: the peak lr is held until the round is learned and nothing mastered is lost, on
    `check_items` dev items a level asked every `check_every` steps: every level past the champion's frontier (the dev
    ladder's, as weaknesses measured it: the test ladder is the gate's alone) up to the round's highest reaches `settle`,
    and every level up to the frontier still reaches `mastered`. Then the lr decays,
    as the seed's does, over the same share of the steps so far as the recipe's decay takes of its run, and training
    ends at the first check of the decay where every level reaches `mastered`. A generation that has learned its round
    early stops spending steps on it; one that has not trains the whole cap. Holding the mastered levels to `mastered`
    is what keeps a short decay from costing them: measured, a generation stopped as soon as every level reached 0.9
    lost 2-4 points on mastered levels and the gate rejected it (docs/stages.md, the train stage). The dev answers are the run's scorer's: true ones (counted as deciding), or label-free."""

    scores_dev = True

    def __init__(self, settle: float = 0.9, mastered: float = 0.99, check_items: int = 100, check_every: int = 50) -> None:
        if not 0 < settle <= mastered <= 1 or check_items < 1 or check_every < 1:
            raise ValueError(f"stage.train needs 0 < settle <= mastered <= 1 and positive check_items, check_every "
                             f"(got settle {settle}, mastered {mastered}, check_items {check_items}, check_every {check_every})")
        self.settle, self.mastered, self.check_items, self.check_every = settle, mastered, check_items, check_every

    def fit(self, ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: dict[str, Any],
            new: Dataset) -> dict[str, Any]:
        top = max(new["level"], default=0) if "level" in new.column_names else 0  # the round's highest level; 0: an empty round
        frontier = ctx.champion_frontier()
        levels = range(1, min(max(top, frontier), ctx.cap or max(top, frontier)) + 1)
        checks, learned_at = LevelChecks(ctx, model, tok, ctx.dev_items(levels, self.check_items)), []

        def learned(step: int) -> bool:
            if checks.at(step, lambda level: self.mastered if level <= frontier else self.settle):
                learned_at.append(step)
                return True
            return False
        stats = fit(ctx, model, tok, sources, recipe, seed=train_seed(ctx), learned=learned, finished=checks.reaches(self.mastered),
                    check_every=self.check_every)
        return stats | {"cap": recipe["steps"], "learned_at": next(iter(learned_at), None), "checks": checks.checks}
