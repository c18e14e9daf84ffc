"""Stage 5: read the pilots. Per candidate (over seeds): dev accuracy at the target level
(champion frontier + `target_ahead`) and at the frontier, slope, seed spread, compute, and an
estimate of the target accuracy after the recipe's full training budget, with an uncertainty.

Estimates (one per seed, then averaged):
- `Extrapolate`: least squares of accuracy on log(step) over the pilot's checkpoints, evaluated
  at the recipe's `steps` and clipped to [0, 1]. Learning curves are roughly linear in log
  steps over short ranges; far past the pilot this overshoots, so read it as a ranking score.
- `LastPoint`: the last checkpoint's accuracy, no extrapolation (conservative, favours fast starters).
Uncertainty: estimate +- z x max(std of the per-seed estimates, the binomial standard error of
one dev accuracy at the target level); the floor keeps two seeds that agree by chance from
making every difference look real. `seed_spread` pools the per-seed estimate variance over the
unflagged candidates, with the same floor. Select's bar is sharper: each candidate's `gain` over the
champion's recipe, in accuracy measured at the pilots' end, seed by seed (`gain_noise`: the spread
of those paired gains).
"""
from __future__ import annotations

import math
import statistics
from abc import abstractmethod
from typing import Any

from pipeline.context import Context
from pipeline.rundir import read_json, write_json
from pipeline.stages.base import Stage

Point = tuple[int, float]  # (steps done, accuracy)
CONTROL = "champion"  # the candidate that is the champion's own recipe


def _std(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _slope(points: list[Point], log_x: bool = False) -> tuple[float, float]:
    """Least-squares (intercept, slope) of accuracy on step (or log step); slope 0 with one distinct x."""
    xs = [math.log(s) if log_x else float(s) for s, _ in points]
    ys = [a for _, a in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
    return my - b * mx, b


class Interpret(Stage):
    name = "interpret"

    def __init__(self, target_ahead: int = 1, z: float = 1.0, max_spread: float = 0.1, rise_tol: float = 0.5, rise_abs: float = 0.05) -> None:
        self.target_ahead, self.z, self.max_spread = target_ahead, z, max_spread
        self.rise_tol, self.rise_abs = rise_tol, rise_abs

    @abstractmethod
    def estimate(self, points: list[Point], full_steps: int) -> float:
        """Predicted accuracy after `full_steps` steps from one pilot's checkpoints."""

    def run(self, ctx: Context) -> dict[str, Any]:
        index = ctx.read("experiment", "experiment.json")
        records = [read_json(ctx.out("experiment") / p["file"]) for p in index["pilots"]]
        result = self.interpret(records, index["frontier"], index["levels"])
        out = ctx.out(self.name)
        write_json(out / "interpretation.json", result)
        (out / "table.md").write_text(table(result))
        best = result["ranked"][0] if result["ranked"] else None
        ctx.log({"interpret/seed_spread": result["seed_spread"]})
        return {"best": best["id"] if best else None, "best_estimate": best["estimate"] if best else None,
                "seed_spread": round(result["seed_spread"], 4), "flagged": sum(bool(r["flags"]) for r in result["ranked"])}

    def interpret(self, records: list[dict[str, Any]], frontier: int, levels: list[int]) -> dict[str, Any]:
        """The ranked table from pilot records (as experiment writes them)."""
        target = frontier + self.target_ahead if frontier + self.target_ahead in levels else max(levels)
        by_id: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            by_id.setdefault(rec["id"], []).append(rec)
        rows = [self._summarise(cid, recs, str(frontier), str(target)) for cid, recs in by_id.items()]
        control = next((r for r in rows if r["id"] == CONTROL), None)
        for r in rows:
            r["gain"], r["gain_noise"] = self._paired_gain(r, control) if control else (None, None)
        steady = [r for r in rows if not r["flags"]] or rows  # one erratic recipe says nothing about seed noise in the others
        pooled = math.sqrt(statistics.fmean(r["estimate_std"] ** 2 for r in steady)) if rows else 0.0
        spread = max([pooled, *(r["acc_se"] for r in rows)])
        rows.sort(key=lambda r: (-r["estimate"], -r["acc_mean"]))
        return {"frontier": frontier, "target_level": target, "method": type(self).__name__, "ranked": rows, "seed_spread": spread}

    def _summarise(self, cid: str, recs: list[dict[str, Any]], front: str, target: str) -> dict[str, Any]:
        recipe = recs[0]["recipe"]
        finals = [r["final_acc"][target] for r in recs]
        curves = [[(c["step"], c["acc"][target]) for c in r["checkpoints"]] for r in recs]
        estimates = [self.estimate(pts, recipe["steps"]) for pts in curves]
        est, est_std = statistics.fmean(estimates), _std(estimates)
        acc = statistics.fmean(finals)
        n_items = min(r["items"][target] for r in recs)
        se = math.sqrt(acc * (1 - acc) / n_items)
        half = self.z * max(est_std, se)
        pilot_examples = recs[0]["steps"] * recs[0]["batch_size"]
        return {
            "id": cid,
            "seeds": len(recs),
            "acc_mean": acc,
            "acc_std": _std(finals),
            "acc_frontier": statistics.fmean(r["final_acc"][front] for r in recs) if front in recs[0]["final_acc"] else None,
            "slope": 1000 * statistics.fmean(_slope(pts)[1] for pts in curves),  # accuracy per 1k steps
            "flops": sum(r["flops"] for r in recs),  # what the pilots used
            "full_flops": statistics.fmean(r["flops"] for r in recs) * recipe["steps"] * recipe["batch_size"] / pilot_examples,
            "estimate": est,
            "estimate_std": est_std,
            "acc_se": se,  # binomial standard error of one seed's accuracy at the target level
            "estimate_low": max(0.0, est - half),
            "estimate_high": min(1.0, est + half),
            "seed_finals": {str(r["seed"]): a for r, a in zip(recs, finals)},
            "flags": self._flags(recs, finals, estimates),
            "recipe": recipe,
        }

    @staticmethod
    def _paired_gain(row: dict[str, Any], control: dict[str, Any]) -> tuple[float, float]:
        """Gain over the champion's recipe in measured accuracy at the pilots' end, seed by seed, and its
        noise. Pilots of one seed share their data order and subsample across candidates, so the luck
        of the draw (which can swing one seed's accuracy past the frontier by 0.5) cancels in the
        difference: the spread that matters is that of the paired gains, floored by the sampling error
        of a difference of two accuracies. Measured, not extrapolated: extrapolating each seed's
        three checkpoints multiplies their noise (paired spreads of 0.6-0.8 where the measured
        differences agreed within 0.05), so the estimate ranks but the measurement decides."""
        seeds = sorted(set(row["seed_finals"]) & set(control["seed_finals"]))
        diffs = [row["seed_finals"][s] - control["seed_finals"][s] for s in seeds]
        floor = math.hypot(row["acc_se"], control["acc_se"])
        return (statistics.fmean(diffs), max(_std(diffs), floor)) if diffs and row is not control else (0.0, 0.0)

    def _flags(self, recs: list[dict[str, Any]], finals: list[float], estimates: list[float]) -> list[str]:
        """diverged: a non-finite loss; rising_loss: the last loss well above the first (mean over seeds);
        unstable: the seeds disagree by more than `max_spread`."""
        flags = []
        if any(r["diverged"] for r in recs):
            flags.append("diverged")
        else:
            first = statistics.fmean(r["curve"][0]["loss"] for r in recs)
            last = statistics.fmean(r["curve"][-1]["loss"] for r in recs)
            if last > first * (1 + self.rise_tol) + self.rise_abs:
                flags.append("rising_loss")
        if max(_std(finals), _std(estimates)) > self.max_spread:
            flags.append("unstable")
        return flags


class Extrapolate(Interpret):
    """Linear in log(steps) to the full budget, clipped to [0, 1]."""

    def estimate(self, points: list[Point], full_steps: int) -> float:
        a, b = _slope(points, log_x=True)
        return min(1.0, max(0.0, a + b * math.log(full_steps)))


class LastPoint(Interpret):
    """The pilot's last accuracy, taken as is."""

    def estimate(self, points: list[Point], full_steps: int) -> float:
        return points[-1][1]


def table(result: dict[str, Any]) -> str:
    """interpretation.json as a markdown table, best first."""
    f, t = result["frontier"], result["target_level"]
    lines = [
        f"Pilots ranked by estimated dev accuracy at level {t} after full training ({result['method']}); "
        f"seed spread {result['seed_spread']:.3f}.",
        "",
        f"| rank | id | acc@{f} | acc@{t} (std) | slope /1k steps | estimate [low, high] | gain vs champion, seed by seed | full GFLOPs | flags |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(result["ranked"], 1):
        lines.append(
            f"| {i} | {r['id']} | {'-' if r['acc_frontier'] is None else format(r['acc_frontier'], '.3f')} | {r['acc_mean']:.3f} ({r['acc_std']:.3f}) | {r['slope']:+.3f} "
            f"| {r['estimate']:.3f} [{r['estimate_low']:.3f}, {r['estimate_high']:.3f}] "
            f"| {'-' if r['gain'] is None else format(r['gain'], '+.3f') + ' +- ' + format(r['gain_noise'], '.3f')} | {r['full_flops'] / 1e9:.1f} "
            f"| {', '.join(r['flags']) or '-'} |"
        )
    return "\n".join(lines) + "\n"
