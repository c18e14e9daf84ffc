"""Stage 9: train the successor on the recipe and the curated data.

A NaN or infinite loss stops training, and nothing to train on (an empty round the recipe gives all of each batch)
never starts it: the generation is recorded as failed (`train.json` holds the reason, the step and the recipe) and no
weights are saved, so no verify runs on it.

Warm start (fine-tune the champion, as Lee et al. do each round) or from scratch. Batches mix
the newest round with all earlier data (`new_share`); accumulating rather than replacing data
is what keeps self-training from collapsing (Gerstgrasser et al. 2024). The seed (generation 0)
trains through `fit` too, from scratch on its ground truth.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.context import Context
from pipeline.data import load_rows
from pipeline.model import build_model, load, n_params, save
from pipeline.rundir import atomic_dir, write_json
from pipeline.stages.base import Stage
from pipeline.training import Encoded, NonFiniteLoss, NothingToTrain, encode, train, train_flops


def train_recipe(model: torch.nn.Module, sources: list[tuple[Encoded, float]], recipe: dict[str, Any], seed: int, **options: Any) -> list[dict[str, float]]:
    """`training.train` on a recipe's schedule (steps, batch size, lr, warmup): a generation's training and a
    `stage/verify=controlled` control, which must train exactly alike."""
    return train(model, sources, steps=recipe["steps"], batch_size=recipe["batch_size"], lr=recipe["lr"], warmup=recipe["warmup"],
                 seed=seed, **options)


def fit(ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: dict[str, Any],
        seed: int, learned: Callable[[int], bool] | None = None, finished: Callable[[int], bool] | None = None) -> dict[str, Any]:
    """Train `model` with `recipe` on `sources`, save it as this generation's `train/model` and return
    what train.json records (with `learned` or `finished`, `recipe["steps"]` is a cap: see `training.train`).
    A non-finite loss raises `NonFiniteLoss` before anything is saved."""
    start = time.time()
    curve = train_recipe(model, sources, recipe, seed, description=f"gen {ctx.gen} train", learned=learned, finished=finished,
                         stop_on_nonfinite=True, log=lambda step, point: ctx.log({f"train/{k}": v for k, v in point.items()}))
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


def train_seed(ctx: Context) -> int:
    """The seed of this generation's training: its data order (the successor's, and a control's in `stage/verify=controlled`)."""
    return ctx.cfg.seed * 1000 + ctx.gen


class Train(Stage):
    name = "train"

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe = ctx.recipe()
        model, tok = starting_point(ctx, recipe)
        new = load_rows(ctx.out("curate") / "data")
        old = ctx.pool()
        sources = [
            (encode(tok, new["prompt"], new["answer"]), recipe["new_share"]),
            (encode(tok, old["prompt"], old["answer"]), 1.0 - recipe["new_share"]),
        ]
        start = time.time()
        try:
            stats = fit(ctx, model, tok, sources, recipe, seed=train_seed(ctx))
        except (NonFiniteLoss, NothingToTrain) as err:  # no successor: record why (no weights are saved) and let the loop go on
            failed = (f"{err} (recipe lr {recipe['lr']:g}, steps {recipe['steps']}, batch {recipe['batch_size']}, new_share {recipe['new_share']:g}; "
                      f"{len(new)} new rows, {len(old)} earlier)")
            write_json(ctx.out(self.name) / "train.json", {"recipe": recipe, "failed": failed, "step": err.step, "seconds": round(time.time() - start, 2)})
            return {"failed": failed}
        stats["train_examples"] = {"new": len(new), "earlier": len(old)}
        write_json(ctx.out(self.name) / "train.json", stats)
        return {"final_loss": round(stats["final_loss"], 4), "steps_per_s": round(stats["steps"] / stats["seconds"], 2), "flops": stats["flops"]}
