"""Stage 7: the Karpathy loop proper. The champion labels new problems just past its frontier,
a judge keeps what it trusts, and the survivors become this generation's round of data.

The judge's real quality is measured against the hidden ground truth (precision, recall),
which the judge itself never sees unless it is an oracle.
"""
from __future__ import annotations

import random
from typing import Any

from pipeline.context import Context
from pipeline.judges import Judge, JudgeInput
from pipeline.model import load
from pipeline.data import save_rows
from pipeline.rundir import write_json
from pipeline.sampling import greedy
from pipeline.splits import contamination
from pipeline.stages.base import Stage


class Curate(Stage):
    name = "curate"

    def __init__(self, judge: Judge, n_problems: int = 4096, levels_ahead: tuple[int, ...] = (1,)) -> None:
        self.judge, self.n_problems, self.levels_ahead = judge, n_problems, tuple(levels_ahead)

    def run(self, ctx: Context) -> dict[str, Any]:
        front = ctx.read("weaknesses", "weaknesses.json")["frontier"]
        levels = [front + d for d in self.levels_ahead]
        earlier = set(ctx.pool()["prompt"])
        rng = random.Random(f"curate-{ctx.cfg.seed}-{ctx.gen}")
        problems = ctx.splits.draw(
            "train", self.n_problems, lambda r: ctx.task.sample_level(r.choice(levels), r), rng, distinct=True
        )
        problems = [p for p in problems if p.prompt not in earlier]  # no duplicates of earlier data
        prompts = [p.prompt for p in problems]
        model, tok = load(ctx.champion_dir, ctx.device)
        labels = greedy(model, tok, prompts)
        truth = [p.answer for p in problems]
        inp = JudgeInput(ctx.task, prompts, labels, model, tok, seed=ctx.cfg.seed * 1000 + ctx.gen)
        if self.judge.reads_ground_truth:
            inp.truth = truth
        kept = self.judge.keep(inp)
        leaked = contamination([p for p, k in zip(prompts, kept) if k], [p.prompt for p in ctx.ladder("test")])
        if leaked:
            raise RuntimeError(f"{leaked} gate test items reached curation: the split is broken")
        correct = [a == t for a, t in zip(labels, truth)]
        n_kept, n_correct = sum(kept), sum(correct)
        kept_correct = sum(k and c for k, c in zip(kept, correct))
        stats = {
            "levels": levels,
            "judge": type(self.judge).__name__,
            "judge_reads_ground_truth": self.judge.reads_ground_truth,
            "candidates": len(problems),
            "kept": n_kept,
            "label_accuracy": round(n_correct / max(1, len(problems)), 4),
            "judge_yield": round(n_kept / max(1, len(problems)), 4),
            "judge_precision": round(kept_correct / n_kept, 4) if n_kept else None,
            "judge_recall": round(kept_correct / n_correct, 4) if n_correct else None,
            "contaminated": leaked,
        }
        out = ctx.out(self.name)
        rows = {"prompt": prompts, "answer": labels, "level": [p.level for p in problems]}
        save_rows({**rows, "kept": kept, "correct": correct}, out / "judged")  # every candidate, for inspection
        save_rows({k: [x for x, keep in zip(v, kept) if keep] for k, v in rows.items()}, out / "data")  # what the successor trains on
        write_json(out / "curation.json", stats)
        ctx.log({f"curate/{k}": v for k, v in stats.items() if isinstance(v, (int, float))})
        return {k: stats[k] for k in ("kept", "label_accuracy", "judge_precision", "judge_yield")}
