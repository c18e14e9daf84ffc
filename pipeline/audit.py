"""The shadow audit: after every generation, what ground truth says about the decisions its stages
made. No stage reads its output (gen_<k>/audit/audit.json); under `humans=none` it is the only
component past the seed that reads true answers, and each read is counted as measured.

It records the champion's true frontier against the frontier the weaknesses stage estimated, the
successor's true accuracy per level, what a ground-truth gate would have decided on the same test
ladder (so the self-verdict is a correct or false promotion, a correct or false rejection; under
`stage/verify=controlled` a ground-truth gate that also asks the successor to beat the control), and,
where curate could not measure it, the judge's true precision on the round.
"""
from __future__ import annotations

from typing import Any

from pipeline.context import Context
from pipeline.data import load_rows
from pipeline.evaluate import bits, per_level
from pipeline.gate import Gate
from pipeline.judges.base import label_quality
from pipeline.model import load
from pipeline.rundir import read_json, write_json
from pipeline.scoring import TrueAnswers
from pipeline.stages.base import Stage
from pipeline.stages.verify import provenance
from pipeline.truth import MEASURE
from tasks import Problem

#: (self-verdict promoted, ground-truth gate promoted) -> outcome
OUTCOMES = {(True, True): "correct promotion", (True, False): "false promotion",
            (False, True): "false rejection", (False, False): "correct rejection"}


def _true_scored(ctx: Context, verdict: dict[str, Any]) -> bool:
    """Whether a verdict's recorded answers were scored with the true answers on this kind of device and dtype."""
    return all(verdict.get(k) == v for k, v in {**provenance(ctx), "scorer": TrueAnswers.__name__}.items())


class ShadowAudit(Stage):
    name = "audit"

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def run(self, ctx: Context) -> dict[str, Any]:
        items = ctx.ladder("test")
        model_dir = ctx.out("train") / "model"
        successor = self._true(ctx, ctx.gen, items) if (model_dir / "model.safetensors").is_file() else None
        out: dict[str, Any] = {"successor_correct": None if successor is None else bits(successor)}
        if ctx.gen == 0:
            out |= {"successor_frontier": self.gate.frontier(items, successor), "successor_accuracy": per_level(items, successor)}
            write_json(ctx.out(self.name) / "audit.json", out)
            return {"true_frontier": out["successor_frontier"]}
        champion = self._true(ctx, ctx.champion_gen, items)
        weak = ctx.out("weaknesses") / "weaknesses.json"
        verdict = ctx.out("verify") / "verdict.json"
        out |= {
            "champion_gen": ctx.champion_gen,
            "champion_frontier": self.gate.frontier(items, champion),  # the true one
            "estimated_frontier": read_json(weak)["frontier"] if weak.is_file() else None,  # what weaknesses decided from
            "judge": self._judge(ctx),
        }
        if successor is None or not verdict.is_file():
            out |= {"outcome": "no successor"}
        else:
            truth = self.gate.decide(items, champion, successor)
            record = read_json(verdict)
            should = truth.promoted and self._beats_control(ctx, items, record, successor)
            out |= {"outcome": OUTCOMES[(record["promoted"], should)], "self_promoted": record["promoted"], "truth_promoted": should,
                    "truth_reason": truth.reason, "successor_frontier": truth.successor_frontier, "successor_accuracy": truth.successor_accuracy}
        write_json(ctx.out(self.name) / "audit.json", out)
        return {"outcome": out["outcome"], "true_frontier": out.get("successor_frontier", out["champion_frontier"])}

    def _beats_control(self, ctx: Context, items: list[Problem], record: dict[str, Any], successor: list[bool]) -> bool:
        """Whether the successor truly beats the control of a `stage/verify=controlled` verdict (True when it has none).
        The control's weights are not kept, so only answers scored with true answers on this kind of device can tell;
        a control scored otherwise leaves the champion comparison alone to decide."""
        recorded = (record.get("control") or {}).get("correct") or ""
        if len(recorded) != len(items) or not _true_scored(ctx, record):
            return True
        return self.gate.decide(items, [b == "1" for b in recorded], successor).promoted

    def _true(self, ctx: Context, gen: int, items: list[Problem]) -> list[bool]:
        """Generation `gen`'s model's true per-item correctness: its audit's or its verdict's record when those
        were scored with true answers the same way, else evaluated (counted as measured)."""
        for stage, name in (("audit", "audit.json"), ("verify", "verdict.json")):
            path = ctx.run.stage_dir(gen, stage) / name
            rec = read_json(path) if path.is_file() else {}
            recorded = rec.get("successor_correct") or ""
            same = stage == "audit" or _true_scored(ctx, rec)
            if len(recorded) == len(items) and same:
                return [b == "1" for b in recorded]
        model, tok = load(ctx.run.stage_dir(gen, "train") / "model", ctx.device)
        return ctx.correctness(model, tok, items, MEASURE, TrueAnswers())

    def _judge(self, ctx: Context) -> dict[str, Any] | None:
        """The judge's true precision and recall on this round (curate's own numbers when it could read truth)."""
        path = ctx.out("curate") / "curation.json"
        if not path.is_file():
            return None
        stats = read_json(path)
        if stats.get("judge_precision") is not None or not stats.get("kept"):
            return {k: stats.get(k) for k in ("judge_precision", "judge_recall", "judge_yield", "label_accuracy")}
        rows = load_rows(ctx.out("curate") / "judged")[:]
        problems = [Problem(p, "", lv) for p, lv in zip(rows["prompt"], rows["level"])]  # answer unknown: read below, counted
        correct = ctx.truth.correct(problems, rows["answer"], MEASURE)
        return label_quality(rows["kept"], correct)

