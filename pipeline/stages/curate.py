"""Stage 7: the Karpathy loop proper. The champion labels new problems just past its frontier,
a judge keeps what it trusts, and the survivors become this generation's round of data.

The judge's real quality is measured against the hidden ground truth (precision, recall),
which the judge itself never sees unless it is an oracle.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pipeline.context import Context
from pipeline.judges import Judge, JudgeInput
from pipeline.model import load
from pipeline.data import save_rows
from pipeline.rundir import write_json
from pipeline.sampling import generate
from pipeline.splits import contamination
from pipeline.stages.base import Stage
from tasks import Problem, Task


class Curate(Stage):
    """`n_problems` candidates in `rounds` rounds. The first round follows the task's own level
    distribution; with `balance`, each later round gives every stratum (for addition: each pair of
    operand lengths) candidates in inverse proportion to the share the judge kept of it so far.
    Without that, a judge that keeps what the champion is sure of starves the hardest strata
    (two long operands) of data, and the successor never learns them."""

    name = "curate"

    def __init__(
        self, judge: Judge, n_problems: int = 4096, levels_ahead: tuple[int, ...] = (1,), rounds: int = 1,
        balance: bool = False, min_yield: float = 0.02,
    ) -> None:
        if rounds < 1 or not 0.0 < min_yield <= 1.0:
            raise ValueError(f"curate needs rounds >= 1 and 0 < min_yield <= 1 (got {rounds}, {min_yield})")
        self.judge, self.n_problems, self.levels_ahead = judge, n_problems, tuple(levels_ahead)
        self.rounds, self.balance, self.min_yield = rounds, balance, min_yield

    def run(self, ctx: Context) -> dict[str, Any]:
        front = ctx.read("weaknesses", "weaknesses.json")["frontier"]
        levels = [front + d for d in self.levels_ahead]
        recipe = ctx.recipe()
        judge = self.judge.with_threshold(recipe.get("judge_threshold"))
        seen = set(ctx.pool()["prompt"])  # no duplicates of earlier data, nor within the round
        test = [p.prompt for p in ctx.ladder("test")]
        rng = random.Random(f"curate-{ctx.cfg.seed}-{ctx.gen}")
        model, tok = load(ctx.champion_dir, ctx.device)
        problems: list[Problem] = []
        labels: list[str] = []
        kept: list[bool] = []
        weights: dict[str, float] | None = None
        for r in range(self.rounds):
            n = self.n_problems // self.rounds + (self.n_problems % self.rounds if r == 0 else 0)
            batch = [p for p in ctx.splits.draw("train", n, self._sampler(ctx.task, levels, weights), rng, distinct=True) if p.prompt not in seen]
            seen.update(p.prompt for p in batch)
            prompts = [p.prompt for p in batch]
            seed = ctx.cfg.seed * 1000 + ctx.gen
            answers = [a[0] for a in generate(model, tok, prompts, temperature=recipe.get("temperature", 0.0), seed=seed + r)]
            inp = JudgeInput(ctx.task, prompts, answers, model, tok, seed=seed + r)
            if judge.reads_ground_truth:
                inp.truth = [p.answer for p in batch]
            problems, labels, kept = problems + batch, labels + answers, kept + judge.keep(inp)
            if self.balance:
                weights = self._weights(ctx.task, problems, kept)
        leaked = contamination([p.prompt for p, k in zip(problems, kept) if k], test)
        if leaked:
            raise RuntimeError(f"{leaked} gate test items reached curation: the split is broken")
        truth = [p.answer for p in problems]
        correct = [a == t for a, t in zip(labels, truth)]
        n_kept, n_correct = sum(kept), sum(correct)
        kept_correct = sum(k and c for k, c in zip(kept, correct))
        strata: dict[str, dict[str, int]] = {}
        for p, k, c in zip(problems, kept, correct):
            st = strata.setdefault(ctx.task.stratum(p.prompt), {"candidates": 0, "kept": 0, "kept_correct": 0})
            st["candidates"] += 1
            st["kept"] += k
            st["kept_correct"] += k and c
        stats = {
            "levels": levels,
            "judge": type(judge).__name__,
            "judge_reads_ground_truth": judge.reads_ground_truth,
            "candidates": len(problems),
            "kept": n_kept,
            "label_accuracy": round(n_correct / max(1, len(problems)), 4),
            "judge_yield": round(n_kept / max(1, len(problems)), 4),
            "judge_precision": round(kept_correct / n_kept, 4) if n_kept else None,
            "judge_recall": round(kept_correct / n_correct, 4) if n_correct else None,
            "contaminated": leaked,
            "strata": dict(sorted(strata.items())),
        }
        out = ctx.out(self.name)
        rows = {"prompt": [p.prompt for p in problems], "answer": labels, "level": [p.level for p in problems]}
        save_rows({**rows, "kept": kept, "correct": correct}, out / "judged")  # every candidate, for inspection
        save_rows({k: [x for x, keep in zip(v, kept) if keep] for k, v in rows.items()}, out / "data")  # what the successor trains on
        write_json(out / "curation.json", stats)
        ctx.log({f"curate/{k}": v for k, v in stats.items() if isinstance(v, (int, float))})
        return {k: stats[k] for k in ("kept", "label_accuracy", "judge_precision", "judge_yield")}

    def _weights(self, task: Task, problems: list[Problem], kept: list[bool]) -> dict[tuple[int, str], float]:
        """Inverse of each (level, stratum)'s yield so far, floored at `min_yield`: equal expected kept per stratum."""
        tally: dict[tuple[int, str], list[int]] = {}
        for p, k in zip(problems, kept):
            t = tally.setdefault((p.level, task.stratum(p.prompt)), [0, 0])
            t[0] += 1
            t[1] += k
        return {key: 1.0 / max(self.min_yield, k / n) for key, (n, k) in tally.items()}

    @staticmethod
    def _sampler(task: Task, levels: list[int], weights: dict[tuple[int, str], float] | None) -> Callable[[random.Random], Problem]:
        """A level (and, when weighted, a stratum seen at that level), then the task's own sampler until it matches."""
        keys = list(weights or {})

        def sample(r: random.Random) -> Problem:
            if not keys:
                return task.sample_level(r.choice(levels), r)
            level, stratum = r.choices(keys, [weights[k] for k in keys])[0]
            while True:
                p = task.sample_level(level, r)
                if task.stratum(p.prompt) == stratum:
                    return p

        return sample
