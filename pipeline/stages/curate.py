"""Stage 7: the Karpathy loop proper. The champion labels new problems just past its frontier,
a judge keeps what it trusts, and the survivors become this generation's round of data.

The judge's real quality is measured against the hidden ground truth (precision, recall),
which the judge itself never sees unless it is an oracle.
"""
from __future__ import annotations

from typing import Any

from pipeline.components.judges import Judge
from pipeline.components.judges.base import label_quality
from pipeline.components.labelers import Labeler
from pipeline.components.rounds import Offsets, Round
from pipeline.core.context import Context
from pipeline.core.records import Curation, Weaknesses
from pipeline.core.truth import DECIDE, MEASURE
from pipeline.ml.data import save_rows
from pipeline.ml.model import load
from pipeline.ml.sampling import generate
from pipeline.ml.self_label import fresh_problems, judge_input, self_label
from pipeline.stages.base import Stage


class Curate(Stage):
    """`n_problems` candidates at the levels `round` sets from the champion's frontier (the `round` config group: fixed
    offsets, or a span that grows with the frontier), labelled by the champion, filtered by the judge.

    With `calibrate`, a judge that has a threshold (others are used as they are) gets the loosest of `thresholds` whose precision on
    the dev ladder at the target levels (items with known answers that never reach training) is at
    least `target_precision`, the strictest when none is. How strict a judge must be depends on how
    good the champion is: where it already answers most problems right, a looser filter keeps its
    precision and stops starving the hardest problems (two long operands) of data; where it is weak,
    only the strictest filter is safe. A recipe's explicit `judge_threshold` wins over calibration.
    """

    name = "curate"

    def __init__(
        self, judge: Judge, labeler: Labeler, n_problems: int = 4096, round: Round | None = None, calibrate: bool = False,
        thresholds: tuple[float, ...] = (0.99,), target_precision: float = 0.98,
    ) -> None:
        if calibrate and not thresholds:
            raise ValueError("calibrate needs at least one threshold to choose from")
        self.judge, self.labeler, self.n_problems, self.round = judge, labeler, n_problems, round or Offsets((1,))
        self.calibrate, self.thresholds, self.target_precision = calibrate, sorted(thresholds, reverse=True), target_precision

    def run(self, ctx: Context) -> dict[str, Any]:
        front = ctx.read(Weaknesses).frontier
        levels = self.round.levels(front, ctx.cap)
        recipe = ctx.recipe()
        model, tok = load(ctx.champion_dir, ctx.device)
        seed = ctx.cfg.seed * 1000 + ctx.gen
        calibration = None
        if recipe.judge_threshold is not None or not self.calibrate or self.judge.threshold_field is None:
            judge = self.judge.with_threshold(recipe.judge_threshold)
        else:
            judge, calibration = self._calibrated(ctx, levels, model, tok, seed)
        problems = fresh_problems(ctx, levels, self.n_problems, f"curate-{ctx.cfg.seed}-{ctx.gen}")
        labels, kept = self_label(ctx, judge, self.labeler, model, tok, problems, recipe.temperature, seed)
        leaked = ctx.splits.contamination(p.prompt for p, k in zip(problems, kept) if k)
        if leaked:
            raise RuntimeError(f"{leaked} items of the test or audit split reached curation: the split is broken")
        # the judge's true quality, measured (not read by the judge); under humans=none the shadow audit measures it instead
        correct = ctx.truth.correct(problems, labels, MEASURE) if ctx.truth.allowed() else None
        strata: dict[str, dict[str, int | None]] = {}
        for i, (p, k) in enumerate(zip(problems, kept)):
            st = strata.setdefault(ctx.task.stratum(p.prompt), {"candidates": 0, "kept": 0, "kept_correct": 0 if correct is not None else None})
            st["candidates"] += 1
            st["kept"] += k
            if correct is not None:
                st["kept_correct"] += k and correct[i]
        quality = label_quality(kept, correct) if correct is not None else {"judge_yield": round(sum(kept) / max(1, len(problems)), 4)}
        stats = Curation(
            levels=levels,
            judge=type(judge).__name__,
            judge_reads_ground_truth=judge.reads_ground_truth,
            judge_threshold=getattr(judge, judge.threshold_field) if judge.threshold_field else None,
            candidates=len(problems),
            kept=sum(kept),
            **({"label_accuracy": None, "judge_precision": None, "judge_recall": None} | quality),
            contaminated=leaked,
            calibration=calibration,
            strata=dict(sorted(strata.items())),
            # the frontier level is mostly consolidation; the level past it is where the round teaches something new
            kept_per_level={level: sum(k for p, k in zip(problems, kept) if p.level == level) for level in levels},
        )
        out = ctx.out(self.name)
        rows = {"prompt": [p.prompt for p in problems], "answer": labels, "level": [p.level for p in problems]}
        save_rows({**rows, "kept": kept} | ({"correct": correct} if correct is not None else {}), out / "judged")  # every candidate, for inspection
        save_rows({k: [x for x, keep in zip(v, kept) if keep] for k, v in rows.items()}, out / "data")  # what the successor trains on
        ctx.write(stats)
        ctx.log({f"curate/{k}": v for k, v in stats.to_json().items() if isinstance(v, (int, float))})
        summary = {"kept": stats.kept, "label_accuracy": stats.label_accuracy, "judge_precision": stats.judge_precision, "judge_yield": stats.judge_yield}
        return summary | ({"threshold": calibration["threshold"]} if calibration else {})

    def _calibrated(self, ctx: Context, levels: list[int], model: Any, tok: Any, seed: int) -> tuple[Judge, dict[str, Any]]:
        """The judge at the loosest threshold that keeps `target_precision` on dev items at `levels`."""
        items = ctx.ladder("dev", levels)
        prompts = [p.prompt for p in items]
        labels = [a[0] for a in generate(model, tok, prompts)]
        correct = ctx.truth.correct(items, labels, DECIDE)
        table = []
        for t in self.thresholds:
            kept = self.judge.with_threshold(t).keep(judge_input(ctx, prompts, labels, model, tok, seed))
            n = sum(kept)
            table.append({"threshold": t, "kept": n, "precision": round(sum(k and c for k, c in zip(kept, correct)) / n, 4) if n else None})
        ok = [row for row in table if row["precision"] is not None and row["precision"] >= self.target_precision]
        chosen = ok[-1]["threshold"] if ok else self.thresholds[0]
        return self.judge.with_threshold(chosen), {"threshold": chosen, "target_precision": self.target_precision, "dev_items": len(items), "table": table}
