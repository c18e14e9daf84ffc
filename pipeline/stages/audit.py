"""The shadow audit: after every generation, what ground truth says about the decisions its stages made, on items
of its own. No stage reads its output (gen_<k>/audit/audit.json) or its ladder; under `humans=none` it is the only
component past the seed that reads true answers, and each read is counted as measured.

Its ladder is a held-out split no stage and no gate reads (`splits.audit_pct`), climbed as far as the models it scores
need (`Context.climb`), so its verdict is independent of the
items the gate decided on. It scores champion and successor there with true answers and applies the run's gate at the
level the self-verdict was tested at, holding the mastered levels to the best any champion of the run showed on the
audit ladder; the self-verdict is then a correct or false promotion, a correct or false rejection. Where the gate read
true answers too, a disagreement is the two samples' noise: how often the decision would have gone the other way on
other items. Under `stage/verify=controlled` the ground-truth gate also asks the successor to beat the control (whose
weights verify keeps). It also records the champion's true frontier against the frontier weaknesses estimated, the
successor's true accuracy per level, and, where curate could not measure it, the judge's true precision.

Answers are recorded with the device type and dtype they were computed on; a later audit reuses a champion's recorded
answers only when computed the same way (a bf16 GPU answer and an fp32 CPU answer can differ on the same item).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from pathlib import Path
from typing import Any

from pipeline.components.gate import Gate
from pipeline.components.judges.base import label_quality
from pipeline.components.scorers import TrueAnswers
from pipeline.core.context import Context
from pipeline.core.device import precision
from pipeline.core.records import Audit, Curation, JudgeQuality, SeedAudit, Verdict, Weaknesses
from pipeline.core.rundir import read_json
from pipeline.core.truth import MEASURE
from pipeline.ml.data import load_rows
from pipeline.ml.evaluate import bits, counts, per_level, recorded_or
from pipeline.ml.model import load
from pipeline.stages.base import Stage
from tasks import Problem

#: (self-verdict promoted, ground-truth gate promoted) -> outcome
OUTCOMES = {(True, True): "correct promotion", (True, False): "false promotion",
            (False, True): "false rejection", (False, False): "correct rejection"}


def computed(ctx: Context) -> dict[str, str]:
    """How this audit's answers are computed: recorded next to them."""
    return {"device": ctx.device.type, "dtype": precision(ctx.device)}


class ShadowAudit(Stage):
    name = "audit"

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def run(self, ctx: Context) -> dict[str, Any]:
        has_successor = (ctx.out("train") / "model" / "model.safetensors").is_file()
        gens = ([] if ctx.gen == 0 else [ctx.champion_gen]) + ([ctx.gen] if has_successor else [])
        answerers = [self._answerer(ctx, g) for g in gens]
        items, answers = ctx.climb("audit", lambda level, offset: [a(level, offset) for a in answerers], self.gate.threshold, self.gate.min_items,
                                   models=len(answerers))
        successor = answers[-1] if has_successor else None
        common: dict[str, Any] = {"items": counts(items), "successor_correct": None if successor is None else bits(successor), **computed(ctx)}
        if ctx.gen == 0:
            seed = SeedAudit(**common, successor_frontier=self.gate.frontier(items, successor), successor_accuracy=per_level(items, successor))
            ctx.write(seed)
            return {"true_frontier": seed.successor_frontier}
        champion = answers[0]
        weak = ctx.maybe(Weaknesses)
        verdict = ctx.maybe(Verdict)
        audit = Audit(**common, champion_gen=ctx.champion_gen,
                      champion_frontier=self.gate.frontier(items, champion),  # the true one
                      estimated_frontier=weak.frontier if weak is not None else None,  # what weaknesses decided from
                      judge=self._judge(ctx), outcome="no successor")
        if successor is not None and verdict is not None:
            alpha, earlier = verdict.alpha, ctx.shown(lambda gen: read_json(ctx.run.stage_dir(gen, self.name) / "audit.json").get("successor_correct"), items)
            truth = self.gate.decide(items, champion, successor, alpha, earlier)
            control = ctx.out("verify") / "control"
            should = truth.promoted and (not control.is_dir() or self.gate.decide(items, self._score(ctx, control, items), successor, alpha, earlier).promoted)
            audit = replace(audit, outcome=OUTCOMES[(verdict.promoted, should)], self_promoted=verdict.promoted, truth_promoted=should, alpha=alpha,
                            truth_reason=truth.reason, successor_frontier=truth.successor_frontier, successor_accuracy=truth.successor_accuracy)
        ctx.write(audit)
        return {"outcome": audit.outcome, "true_frontier": audit.champion_frontier if audit.successor_frontier is None else audit.successor_frontier}

    def _answerer(self, ctx: Context, gen: int) -> Callable[[list[Problem], int], list[bool]]:
        """Generation `gen`'s model's true per-item correctness on a level's items (after `offset` items of the ladder): its
        audit's record where that covers the level and was computed the same way, else evaluated (counted as measured)."""
        path = ctx.run.stage_dir(gen, self.name) / "audit.json"
        rec = read_json(path) if path.is_file() else {}
        recorded = (rec.get("successor_correct") or "") if all(rec.get(k) == v for k, v in computed(ctx).items()) else ""
        model = cache(partial(load, ctx.run.stage_dir(gen, "train") / "model", ctx.device))
        return recorded_or(recorded, lambda items: ctx.correctness(*model(), items, MEASURE, TrueAnswers()))

    def _score(self, ctx: Context, model_dir: Path, items: list[Problem]) -> list[bool]:
        """A saved model's true per-item correctness on `items` (counted as measured)."""
        model, tok = load(model_dir, ctx.device)
        return ctx.correctness(model, tok, items, MEASURE, TrueAnswers())

    def _judge(self, ctx: Context) -> JudgeQuality | None:
        """The judge's true precision and recall on this round (curate's own numbers when it could read truth)."""
        stats = ctx.maybe(Curation)
        if stats is None:
            return None
        if stats.judge_precision is not None or not stats.kept:
            return stats.quality()
        rows = load_rows(ctx.out("curate") / "judged")[:]
        problems = [Problem(p, "", lv) for p, lv in zip(rows["prompt"], rows["level"])]  # answer unknown: read below, counted
        correct = ctx.truth.correct(problems, rows["answer"], MEASURE)
        return JudgeQuality.from_json(label_quality(rows["kept"], correct))
