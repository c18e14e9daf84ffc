"""Stage 9: train the successor on the recipe and the curated data.

A NaN or infinite loss stops training: the generation is recorded as failed (`train.json` holds the
step and the recipe) and no weights are saved, so no verify runs on it.

Warm start (fine-tune the champion, as Lee et al. do each round) or from scratch. Batches mix
the newest round with all earlier data (`new_share`); accumulating rather than replacing data
is what keeps self-training from collapsing (Gerstgrasser et al. 2024).
"""
from __future__ import annotations

import time
from typing import Any

from pipeline.context import Context
from pipeline.data import load_rows
from pipeline.model import build_model, load, n_params, save
from pipeline.rundir import atomic_dir, write_json
from pipeline.stages.base import Stage
from pipeline.training import NonFiniteLoss, encode, train


def train_flops(params: int, tokens: int) -> float:
    """The usual 6 x parameters x tokens estimate of training compute."""
    return 6.0 * params * tokens


class Train(Stage):
    name = "train"

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe = ctx.recipe()
        model, tok = load(ctx.champion_dir, ctx.device)
        if not recipe["warm_start"]:
            model = build_model(tok, recipe["hidden"], recipe["layers"], recipe["heads"], seed=ctx.cfg.seed + ctx.gen).to(ctx.device)
        new = load_rows(ctx.out("curate") / "data")
        old = ctx.pool()
        sources = [
            (encode(tok, new["prompt"], new["answer"]), recipe["new_share"]),
            (encode(tok, old["prompt"], old["answer"]), 1.0 - recipe["new_share"]),
        ]
        start = time.time()
        out = ctx.out(self.name)
        try:
            curve = train(
                model, sources, steps=recipe["steps"], batch_size=recipe["batch_size"], lr=recipe["lr"], warmup=recipe["warmup"],
                seed=ctx.cfg.seed * 1000 + ctx.gen, description=f"gen {ctx.gen} train",
                log=lambda step, point: ctx.log({f"train/{k}": v for k, v in point.items()}), stop_on_nonfinite=True,
            )
        except NonFiniteLoss as err:  # no successor: record why (no weights are saved) and let the loop go on
            failed = f"{err} (recipe lr {recipe['lr']:g}, steps {recipe['steps']}, batch {recipe['batch_size']})"
            write_json(out / "train.json", {"recipe": recipe, "failed": failed, "step": err.step, "seconds": round(time.time() - start, 2)})
            return {"failed": failed}
        seconds = time.time() - start
        with atomic_dir(out / "model") as tmp:
            save(model, tok, tmp)
        stats = {
            "recipe": recipe,
            "params": n_params(model),
            "train_examples": {"new": len(new), "earlier": len(old)},
            "seconds": round(seconds, 2),
            "flops": train_flops(n_params(model), curve[-1]["tokens"]),
            "final_loss": curve[-1]["loss"],
            "curve": curve,
        }
        write_json(out / "train.json", stats)
        return {"final_loss": round(stats["final_loss"], 4), "steps_per_s": round(recipe["steps"] / seconds, 2), "flops": stats["flops"]}
