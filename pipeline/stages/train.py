"""Stage 9: train the successor on the recipe and the curated data.

A NaN or infinite loss stops training, and nothing to train on (an empty round the recipe gives all of each batch)
never starts it: the generation is recorded as failed (`train.json` holds the reason, the step and the recipe) and no
weights are saved, so no verify runs on it.

Warm start (fine-tune the champion, as Lee et al. do each round) or from scratch. Batches mix
the newest round with all earlier data (`new_share`); accumulating rather than replacing data
is what keeps self-training from collapsing (Gerstgrasser et al. 2024). The seed (generation 0)
trains through `train_generation` (pipeline/ml/fitting.py) too, from scratch on its ground truth, and until it has learned its levels, as
`UntilLearned` trains a generation: the recipe's steps are then a cap, not a count.
"""
from __future__ import annotations

import time
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerFast

from pipeline.core.context import Context
from pipeline.core.records import Recipe, TrainRecord
from pipeline.ml.data import load_rows
from pipeline.ml.fitting import LevelChecks, earlier_sources, generation_seed, starting_point, train_generation
from pipeline.ml.training import Encoded, NonFiniteLoss, NothingToTrain, encode
from pipeline.stages.base import Stage


class Train(Stage):
    """The recipe's schedule, all of its steps."""

    name = "train"
    #: whether it answers dev items with the run's scorer while it trains (true answers when the scorer needs them)
    scores_dev: bool = False

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe = ctx.recipe()
        model, tok = starting_point(ctx, recipe)
        new = load_rows(ctx.out("curate") / "data")
        old = earlier_sources(ctx, tok, 1.0 - recipe.new_share)
        earlier_rows = sum(len(rows) for rows, _ in old)
        sources = [(encode(tok, new["prompt"], new["answer"]), recipe.new_share), *old]
        start = time.time()
        try:
            stats = self.fit(ctx, model, tok, sources, recipe, new)
        except (NonFiniteLoss, NothingToTrain) as err:  # no successor: record why (no weights are saved) and let the loop go on
            failed = (f"{err} (recipe lr {recipe.lr:g}, steps {recipe.steps}, batch {recipe.batch_size}, new_share {recipe.new_share:g}; "
                      f"{len(new)} new rows, {earlier_rows} earlier)")
            ctx.write(TrainRecord(recipe=recipe, failed=failed, step=err.step, seconds=round(time.time() - start, 2)))
            return {"failed": failed}
        record = TrainRecord.from_json(stats | {"train_examples": {"new": len(new), "earlier": earlier_rows}})
        ctx.write(record)
        return {"steps": record.steps, "cap": recipe.steps, "final_loss": round(record.final_loss, 4),
                "steps_per_s": round(record.steps / record.seconds, 2), "flops": record.flops}

    def fit(self, ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: Recipe,
            new: Dataset) -> dict[str, Any]:
        """Train on `sources` (the first holds this generation's round, `new`) and save the successor; return what
        train.json records (`TrainRecord`'s keys, with a variant's `extras`)."""
        return train_generation(ctx, model, tok, sources, recipe.to_json(), seed=generation_seed(ctx))


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

    def fit(self, ctx: Context, model: torch.nn.Module, tok: PreTrainedTokenizerFast, sources: list[tuple[Encoded, float]], recipe: Recipe,
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
        stats = train_generation(ctx, model, tok, sources, recipe.to_json(), seed=generation_seed(ctx), learned=learned, finished=checks.reaches(self.mastered),
                    check_every=self.check_every)
        return stats | {"cap": recipe.steps, "learned_at": next(iter(learned_at), None), "checks": checks.checks}
