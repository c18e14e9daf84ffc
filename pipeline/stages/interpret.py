"""Stage 5: read the pilots. Per candidate (over seeds): dev accuracy at the target level (champion
frontier + `target_ahead`) and at the frontier, slope, seed spread, compute, and its gain over the
champion's recipe measured seed by seed, with the noise of that gain.

Everything is measured at the pilots' end, nothing extrapolated. Pilots run the recipe's own schedule
compressed in proportion (a recipe with twice the steps gets a pilot twice as long), so the pilot already
sees what a longer or shorter training does. Extrapolating each seed's three checkpoints to the full budget
would multiply their noise (measured: paired spreads of 0.6-0.8 where the measured differences agreed within
0.05) without changing what select chooses.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

from pipeline.components.proposers.base import CONTROL
from pipeline.core import records
from pipeline.core.context import Context
from pipeline.core.rundir import read_json
from pipeline.stages.base import Stage


def _std(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of accuracy on step; 0 with one distinct step."""
    xs, ys = [float(s) for s, _ in points], [a for _, a in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0


class Interpret(Stage):
    name = "interpret"

    def __init__(self, target_ahead: int = 1, max_spread: float = 0.1, rise_tol: float = 0.5, rise_abs: float = 0.05) -> None:
        self.target_ahead, self.max_spread = target_ahead, max_spread
        self.rise_tol, self.rise_abs = rise_tol, rise_abs

    def run(self, ctx: Context) -> dict[str, Any]:
        index = ctx.read(records.Experiment)
        pilots = [records.Pilot.from_json(read_json(ctx.out("experiment") / p.file)) for p in index.pilots]
        result = self.interpret(pilots, index.frontier, index.levels)
        ctx.write(records.Interpretation.from_json(result))
        (ctx.out(self.name) / "table.md").write_text(table(result))
        best = result["ranked"][0] if result["ranked"] else None
        ctx.log({"interpret/seed_spread": result["seed_spread"]})
        return {"best": best["id"] if best else None, "best_gain": None if best is None or best["gain"] is None else round(best["gain"], 4),
                "seed_spread": round(result["seed_spread"], 4), "flagged": sum(bool(r["flags"]) for r in result["ranked"])}

    def interpret(self, pilots: list[records.Pilot], frontier: int, levels: list[int]) -> dict[str, Any]:
        """interpretation.json's content from the pilots (as experiment writes them), best paired gain first."""
        target = frontier + self.target_ahead if frontier + self.target_ahead in levels else max(levels)
        by_id: dict[str, list[records.Pilot]] = {}
        for rec in pilots:
            by_id.setdefault(rec.id, []).append(rec)
        rows = [self._summarise(cid, recs, frontier, target) for cid, recs in by_id.items()]
        control = next((r for r in rows if r["id"] == CONTROL), None)
        for r in rows:
            r["gain"], r["gain_noise"] = self._paired_gain(r, control) if control else (None, None)
        steady = [r for r in rows if not r["flags"]] or rows  # one erratic recipe says nothing about seed noise in the others
        pooled = math.sqrt(statistics.fmean(r["acc_std"] ** 2 for r in steady)) if rows else 0.0
        spread = max([pooled, *(r["acc_se"] for r in rows)])
        rows.sort(key=lambda r: (-(r["gain"] or 0.0), -r["acc_mean"]))
        return {"frontier": frontier, "target_level": target, "ranked": rows, "seed_spread": spread}

    def _summarise(self, cid: str, recs: list[records.Pilot], front: int, target: int) -> dict[str, Any]:
        recipe = recs[0].recipe
        finals = [r.final_acc[target] for r in recs]
        curves = [[(c.step, c.acc[target]) for c in r.checkpoints] for r in recs]
        acc = statistics.fmean(finals)
        n_items = min(r.items[target] for r in recs)
        pilot_examples = recs[0].steps * recs[0].batch_size
        return {
            "id": cid,
            "seeds": len(recs),
            "acc_mean": acc,
            "acc_std": _std(finals),
            "acc_frontier": statistics.fmean(r.final_acc[front] for r in recs) if front in recs[0].final_acc else None,
            "slope": 1000 * statistics.fmean(_slope(pts) for pts in curves),  # accuracy per 1k steps
            "flops": sum(r.flops for r in recs),  # what the pilots used
            "full_flops": statistics.fmean(r.flops for r in recs) * recipe.steps * recipe.batch_size / pilot_examples,
            "acc_se": math.sqrt(acc * (1 - acc) / n_items),  # binomial standard error of one seed's accuracy at the target level
            "seed_finals": {str(r.seed): a for r, a in zip(recs, finals)},
            "flags": self._flags(recs, finals),
            "recipe": recipe.to_json(),
        }

    @staticmethod
    def _paired_gain(row: dict[str, Any], control: dict[str, Any]) -> tuple[float, float]:
        """Gain over the champion's recipe at the pilots' end, seed by seed, and its noise. Pilots of one
        seed share their data order and subsample across candidates, so the luck of the draw (which can
        swing one seed's accuracy past the frontier by 0.5) cancels in the difference: the spread that
        matters is that of the paired gains, floored by the sampling error of a difference of two accuracies."""
        seeds = sorted(set(row["seed_finals"]) & set(control["seed_finals"]))
        diffs = [row["seed_finals"][s] - control["seed_finals"][s] for s in seeds]
        floor = math.hypot(row["acc_se"], control["acc_se"])
        return (statistics.fmean(diffs), max(_std(diffs), floor)) if diffs and row is not control else (0.0, 0.0)

    def _flags(self, recs: list[records.Pilot], finals: list[float]) -> list[str]:
        """diverged: a non-finite loss; rising_loss: the last loss well above the first (mean over seeds);
        unstable: the seeds disagree by more than `max_spread`."""
        flags = []
        if any(r.diverged for r in recs):
            flags.append("diverged")
        else:
            first = statistics.fmean(r.curve[0].loss for r in recs)
            last = statistics.fmean(r.curve[-1].loss for r in recs)
            if last > first * (1 + self.rise_tol) + self.rise_abs:
                flags.append("rising_loss")
        if _std(finals) > self.max_spread:
            flags.append("unstable")
        return flags


def table(result: dict[str, Any]) -> str:
    """interpretation.json as a markdown table, best paired gain first."""
    f, t = result["frontier"], result["target_level"]
    lines = [
        f"Pilots ranked by their gain over the champion's recipe at level {t}, seed by seed; seed spread {result['seed_spread']:.3f}.",
        "",
        f"| rank | id | acc@{f} | acc@{t} (std) | slope /1k steps | gain vs champion, seed by seed | full GFLOPs | flags |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(result["ranked"], 1):
        lines.append(
            f"| {i} | {r['id']} | {'-' if r['acc_frontier'] is None else format(r['acc_frontier'], '.3f')} | {r['acc_mean']:.3f} ({r['acc_std']:.3f}) "
            f"| {r['slope']:+.3f} | {'-' if r['gain'] is None else format(r['gain'], '+.3f') + ' +- ' + format(r['gain_noise'], '.3f')} "
            f"| {r['full_flops'] / 1e9:.1f} | {', '.join(r['flags']) or '-'} |"
        )
    return "\n".join(lines) + "\n"
