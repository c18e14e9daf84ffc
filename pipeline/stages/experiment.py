"""Stage 4: pilots. Every built candidate runs a small copy of a generation with a few seeds: a
pilot round (the champion labels `round_size` problems at curate's levels around its frontier at
the candidate's temperature, the judge keeps them at the candidate's threshold), then a short
training on that round (`new_share` of each batch) and the earlier data, scored on dev items
around the frontier at a few checkpoints, so interpret sees a level and a slope, not one point.

Every knob a proposer turns shows in the pilot: the schedule is compressed in proportion
(`steps` for the champion's own step count, more or fewer for a recipe with more or fewer; the
warmup scaled alike), at `batch_scale` of the recipe's batch, with its lr, warm start and size;
temperature and judge threshold change the pilot round, new_share its weight. Seed s uses the same
data order and subsample for every candidate (common random numbers), so differences between
candidates are not differences in luck.
"""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from pipeline.components.executors import Executor
from pipeline.components.judges import Judge
from pipeline.components.labelers import Labeler
from pipeline.components.rounds import Offsets, Round
from pipeline.core import plugins, records
from pipeline.core.context import Context
from pipeline.core.rundir import write_json
from pipeline.core.truth import DECIDE
from pipeline.ml.data import save_rows
from pipeline.ml.model import load
from pipeline.ml.pilot import PilotSpec, Source, run_pilot
from pipeline.ml.self_label import fresh_problems, self_label
from pipeline.stages.base import Stage


def pilot_sources(ctx: Context, pilot_round: str, new_share: float) -> list[Source]:
    """As train mixes them: the pilot round gets `new_share` of each batch, the earlier data the rest, in the `data` policy's groups."""
    return [{"paths": [pilot_round], "weight": new_share, "level": None}] + [
        {"paths": [str(p) for p in group.paths], "weight": (1.0 - new_share) * group.share, "level": group.level}
        for group in ctx.data.groups(ctx.rounds())]


class Experiment(Stage):
    name = "experiment"

    def __init__(
        self,
        executor: Executor,
        judge: Judge,
        labeler: Labeler,
        round_size: int = 1024,
        round: Round | None = None,
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
        self.executor, self.judge, self.labeler, self.round_size, self.round = executor, judge, labeler, round_size, round or Offsets((1,))
        self.seeds, self.steps, self.batch_scale = tuple(seeds), steps, batch_scale
        self.levels_ahead, self.items_per_level = tuple(levels_ahead), items_per_level
        self.checkpoints, self.max_rows = checkpoints, max_rows

    def run(self, ctx: Context) -> dict[str, Any]:
        built = ctx.read(records.Built).built
        front = ctx.champion_frontier()
        levels = sorted({front + d for d in self.levels_ahead if 1 <= front + d <= (ctx.cap or front + d)})
        out = ctx.out(self.name)
        items = ctx.dev_items(levels, self.items_per_level)
        # the pilots' scorer: true answers (read here, they decide the pilot scores) or label-free (prompts only)
        answers = ctx.truth.answers(items, DECIDE) if ctx.scorer.needs_answers else [None] * len(items)
        write_json(out / "dev.json", [{"prompt": p.prompt, "level": p.level} | ({} if a is None else {"answer": a}) for p, a in zip(items, answers)])
        rounds = self._rounds(ctx, built, front)
        control_steps = ctx.champion_recipe().steps
        jobs = [self._spec(ctx, cand, seed, str(out / "dev.json"), rounds[_round_key(cand.recipe)]["path"], control_steps)
                for cand in built for seed in self.seeds]
        pilots = self.executor.map(run_pilot, jobs, out)
        skipped = [{k: r[k] for k in ("id", "seed", "skipped")} for r in pilots if "skipped" in r]
        pilots = [r for r in pilots if "skipped" not in r]
        index = []
        for rec in pilots:
            name = f"pilots/{rec['id']}-s{rec['seed']}.json"
            write_json(out / name, rec)
            index.append(records.PilotEntry.from_json({k: rec[k] for k in ("id", "seed", "final_acc", "flops", "seconds", "diverged")} | {"file": name}))
        ctx.write(records.Experiment(
            pilot_steps=self.steps, seeds=list(self.seeds), levels=levels, frontier=front, items_per_level=self.items_per_level,
            executor=type(self.executor).__name__, pilots=index, rounds=list(rounds.values()), skipped=skipped,
        ))
        flops = sum(r["flops"] for r in pilots)
        ctx.log({"experiment/pilots": len(pilots), "experiment/flops": flops})
        return {"pilots": len(pilots), "skipped": len(skipped), "diverged": sum(r["diverged"] for r in pilots), "flops": flops}

    def _rounds(self, ctx: Context, built: list[records.BuiltCandidate], front: int) -> dict[str, dict[str, Any]]:
        """One pilot round per distinct (temperature, judge threshold) among the candidates, on the same problems."""
        model, tok = load(ctx.champion_dir, ctx.device)
        problems = fresh_problems(ctx, self.round.levels(front, ctx.cap), self.round_size, f"pilot-round-{ctx.cfg.seed}-{ctx.gen}")
        rounds: dict[str, dict[str, Any]] = {}
        for recipe in (c.recipe for c in built):
            key = _round_key(recipe)
            if key in rounds:
                continue
            judge = self.judge.with_threshold(recipe.judge_threshold)
            labels, kept = self_label(ctx, judge, self.labeler, model, tok, problems, recipe.temperature, ctx.cfg.seed * 1000 + ctx.gen)
            path = ctx.out(self.name) / "rounds" / str(len(rounds))
            save_rows({"prompt": [p.prompt for p, k in zip(problems, kept) if k], "answer": [a for a, k in zip(labels, kept) if k]}, path)
            rounds[key] = {"path": str(path), "temperature": recipe.temperature, "judge_threshold": recipe.judge_threshold,
                           "candidates": len(problems), "kept": sum(kept)}
        return rounds

    def _spec(self, ctx: Context, cand: records.BuiltCandidate, seed: int, dev: str, pilot_round: str, control_steps: int) -> PilotSpec:
        recipe = cand.recipe
        steps = max(1, round(self.steps * recipe.steps / control_steps))
        return {
            "id": cand.id,
            "seed": seed,
            "train_seed": ctx.cfg.seed * 1_000_000 + ctx.gen * 1_000 + seed,
            "model_dir": str(ctx.champion_dir),
            "recipe": recipe.to_json(),  # a plain dict: a pilot may run in another process
            "sources": pilot_sources(ctx, pilot_round, recipe.new_share),
            "max_rows": self.max_rows,
            "steps": steps,
            "batch_size": max(1, round(recipe.batch_size * self.batch_scale)),
            "warmup": max(1, round(recipe.warmup * steps / recipe.steps)),
            "eval_every": max(1, steps // self.checkpoints),
            "dev": dev,
            "task": OmegaConf.to_container(ctx.cfg.task, resolve=True),
            "scorer": OmegaConf.to_container(ctx.cfg.scorer, resolve=True),
            "allow": list(plugins.allowed(ctx.cfg)),
            "device": str(ctx.device),
        }


def _round_key(recipe: records.Recipe) -> str:
    """Candidates with the same sampling temperature and judge threshold share one pilot round."""
    return f"{recipe.temperature}|{recipe.judge_threshold}"
