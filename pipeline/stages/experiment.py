"""Stage 4: pilots. Every built candidate trains briefly with a few seeds on the data that exists
before this generation's curation, and is scored on dev items around the champion's frontier
at a few checkpoints, so interpret sees a level and a slope, not a single point.

Pilots compress the recipe's schedule into `steps` steps (warmup scaled by the same factor) at
`batch_scale` of its batch size, so recipes that differ in lr, warmup or batch still differ in
the pilot. Seed s uses the same data order and subsample for every candidate (common random
numbers), so differences between candidates are not differences in luck.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from omegaconf import OmegaConf

from pipeline import plugins
from pipeline.context import Context
from pipeline.executors import Executor
from pipeline.pilot import PilotSpec, Source, run_pilot
from pipeline.rundir import read_json, write_json
from pipeline.stages.base import Stage


def dev_frontier(ctx: Context) -> int:
    """The champion's frontier on the dev ladder (weaknesses stage), or its gate frontier when weaknesses did not run."""
    path = ctx.out("weaknesses") / "weaknesses.json"
    return read_json(path)["frontier"] if path.is_file() else ctx.champion_frontier()


def pool_sources(ctx: Context, new_share: float) -> list[Source]:
    """ctx.pool() as paths: the newest promoted round gets `new_share` of each batch and the earlier
    rounds the rest (as train mixes this generation's round with earlier data); one round is one source."""
    rounds = [str(p) for p in ctx.pool_paths()]
    if len(rounds) == 1:
        return [{"paths": rounds, "weight": 1.0}]
    return [{"paths": rounds[-1:], "weight": new_share}, {"paths": rounds[:-1], "weight": 1.0 - new_share}]


class Experiment(Stage):
    name = "experiment"

    def __init__(
        self,
        executor: Executor,
        seeds: tuple[int, ...] = (0, 1),
        steps: int = 30,
        batch_scale: float = 0.5,
        levels_ahead: tuple[int, ...] = (0, 1),
        items_per_level: int = 200,
        checkpoints: int = 3,
        max_rows: int = 4096,
    ) -> None:
        if len(seeds) < 2:
            raise ValueError("pilots need >= 2 seeds, or interpret cannot tell a gain from seed noise")
        self.executor, self.seeds, self.steps, self.batch_scale = executor, tuple(seeds), steps, batch_scale
        self.levels_ahead, self.items_per_level = tuple(levels_ahead), items_per_level
        self.checkpoints, self.max_rows = checkpoints, max_rows

    def run(self, ctx: Context) -> dict[str, Any]:
        built = ctx.read("build", "built.json")["built"]
        front = dev_frontier(ctx)
        levels = sorted({front + d for d in self.levels_ahead if 1 <= front + d <= ctx.cfg.eval.max_level})
        out = ctx.out(self.name)
        items = [p for lv in levels for p in [q for q in ctx.ladder("dev") if q.level == lv][: self.items_per_level]]
        write_json(out / "dev.json", [asdict(p) for p in items])
        jobs = [self._spec(ctx, cand, seed, str(out / "dev.json")) for cand in built for seed in self.seeds]
        records = self.executor.map(run_pilot, jobs)
        index = []
        for rec in records:
            name = f"pilots/{rec['id']}-s{rec['seed']}.json"
            write_json(out / name, rec)
            index.append({k: rec[k] for k in ("id", "seed", "final_acc", "flops", "seconds", "diverged")} | {"file": name})
        write_json(out / "experiment.json", {
            "pilot_steps": self.steps, "seeds": list(self.seeds), "levels": levels, "frontier": front,
            "items_per_level": self.items_per_level, "executor": type(self.executor).__name__, "pilots": index,
        })
        flops = sum(r["flops"] for r in records)
        ctx.log({"experiment/pilots": len(records), "experiment/flops": flops})
        return {"pilots": len(records), "diverged": sum(r["diverged"] for r in records), "flops": flops}

    def _spec(self, ctx: Context, cand: dict[str, Any], seed: int, dev: str) -> PilotSpec:
        recipe = cand["recipe"]
        return {
            "id": cand["id"],
            "seed": seed,
            "train_seed": ctx.cfg.seed * 1_000_000 + ctx.gen * 1_000 + seed,
            "model_dir": str(ctx.champion_dir),
            "recipe": recipe,
            "sources": pool_sources(ctx, recipe["new_share"]),
            "max_rows": self.max_rows,
            "steps": self.steps,
            "batch_size": max(1, round(recipe["batch_size"] * self.batch_scale)),
            "warmup": max(1, round(recipe["warmup"] * self.steps / recipe["steps"])),
            "eval_every": max(1, self.steps // self.checkpoints),
            "dev": dev,
            "task": OmegaConf.to_container(ctx.cfg.task, resolve=True),
            "allow": list(plugins.allowed(ctx.cfg)),
            "device": str(ctx.device),
        }
