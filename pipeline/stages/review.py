"""Stage 8: a safety and capability review of the curated round, before anything trains on it.

It looks at the data the way a careful human would before signing off a training run:
a seeded spot-check of labels against ground truth (an error rate with an exact confidence
interval), test or audit items in the data (contamination, by hash bucket), duplicates, which levels are covered,
how far the round drifts from earlier data, and what the pilots predicted. When the label
error or the contamination passes its limit, the review blocks: the summary then carries
"blocked" and the loop skips training for this generation.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipeline.core.context import Context
from pipeline.core.records import Curation, Selected, Weaknesses
from pipeline.core.rundir import read_json, write_json
from pipeline.core.truth import DECIDE
from pipeline.ml.data import load_rows
from pipeline.ml.stats import clopper_pearson
from pipeline.stages.base import Stage
from tasks import Problem

#: which number of the audit is compared with max_label_error
RULES = {
    "lower": "CI lower bound",  # block on evidence that the data is bad (a false block at the limit <= (1-confidence)/2)
    "point": "point estimate",  # block when the sample's error rate is above the limit
    "upper": "CI upper bound",  # block unless the sample shows the data is good (the burden of proof on the data)
}


class Review(Stage):
    name = "review"
    vetoable = True

    def __init__(
        self,
        sample_size: int = 100,
        max_label_error: float = 0.1,
        decide_on: str = "lower",
        confidence: float = 0.95,
        max_contamination: int = 0,
    ) -> None:
        """`sample_size` 0 skips the audit: the review then never reads ground truth."""
        if decide_on not in RULES:
            raise ValueError(f"decide_on must be one of {', '.join(RULES)}, got '{decide_on}'")
        if sample_size < 0 or not 0 < confidence < 1:
            raise ValueError(f"need sample_size >= 0 and 0 < confidence < 1, got {sample_size}, {confidence}")
        self.sample_size, self.max_label_error, self.decide_on = sample_size, max_label_error, decide_on
        self.confidence, self.max_contamination = confidence, max_contamination

    def run(self, ctx: Context) -> dict[str, Any]:
        folder = ctx.out("curate") / "data"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: stage 'curate' must run before 'review'")
        data = load_rows(folder)[:]  # plain lists: iterating a dataset column row by row is slow
        prompts, answers, levels = data["prompt"], data["answer"], data["level"]
        pool = ctx.pool()[:]
        front = ctx.read(Weaknesses).frontier
        audit = self.audit(ctx, prompts, answers, levels) if self.sample_size else None
        leaked = ctx.splits.contamination(prompts)
        counts = Counter(levels)
        selected = ctx.maybe(Selected)
        report = {
            "audit": audit,
            "contaminated": leaked,
            **duplicates(prompts, set(pool["prompt"])),
            "level_coverage": {"counts": {str(lv): n for lv, n in sorted(counts.items())}, "frontier": front,
                               "target": front + 1, "covered": counts[front + 1] > 0},
            "drift": {"level_tv": tv_distance(levels, pool["level"]),
                      "answer_length_tv": tv_distance(map(len, answers), map(len, pool["answer"]))},
            "predicted_change": selected.predicted_gain if selected is not None else None,
            "limits": {"max_label_error": self.max_label_error, "decide_on": self.decide_on,
                       "confidence": self.confidence, "max_contamination": self.max_contamination},
        }
        reasons = self.reasons(audit, leaked)
        write_json(ctx.out(self.name) / "review.json", {**report, "blocked": bool(reasons), "reasons": reasons})
        summary: dict[str, Any] = {"items": len(prompts), "contaminated": leaked, "duplicate_rate": report["duplicate_rate"]}
        if audit is not None:
            summary.update(audited=audit["n"], label_error=audit["error_rate"], label_error_ci=audit["ci"])
        ctx.log({f"review/{k}": v for k, v in summary.items() if isinstance(v, (int, float))} | {"review/blocked": int(bool(reasons))})
        return {**summary, "blocked": "; ".join(reasons)} if reasons else summary

    def veto(self, ctx: Context, summary: dict[str, Any]) -> dict[str, Any]:
        """Block training on this round, as a failed audit would: the loop skips train and verify."""
        path = ctx.out(self.name) / "review.json"
        review = read_json(path)
        reasons = [*review["reasons"], "vetoed by a human"]
        write_json(path, {**review, "blocked": True, "reasons": reasons})
        return {**summary, "blocked": "; ".join(reasons)}

    def audit(self, ctx: Context, prompts: list[str], answers: list[str], levels: list[int]) -> dict[str, Any]:
        """Check a seeded random sample of labels against the task's ground truth, as a human spot-check would
        (the labels read decide whether training goes ahead)."""
        rng = random.Random(f"review-{ctx.cfg.seed}-{ctx.gen}")
        picked = sorted(rng.sample(range(len(prompts)), min(self.sample_size, len(prompts))))
        truth = dict(zip(picked, ctx.truth.answers([Problem(prompts[i], "", levels[i]) for i in picked], DECIDE)))  # answer unknown: read here
        wrong = [i for i in picked if answers[i] != truth[i]]
        n, k = len(picked), len(wrong)
        curation = ctx.maybe(Curation)
        precision = curation.judge_precision if curation is not None else None
        return {
            "n": n,
            "errors": k,
            "error_rate": round(k / n, 4) if n else None,
            "ci": [round(x, 4) for x in clopper_pearson(k, n, self.confidence)] if n else [0.0, 1.0],
            # curate's error rate over the whole round (it knows every answer in this toy); the audit estimates it
            "true_error_rate": None if precision is None else round(1 - precision, 4),
            "examples": [{"prompt": prompts[i], "label": answers[i], "truth": truth[i]} for i in wrong[:5]],
        }

    def reasons(self, audit: dict[str, Any] | None, leaked: int) -> list[str]:
        """Why training on this round must not go ahead (empty: it may)."""
        out = []
        if audit is not None and audit["n"]:
            lo, hi = audit["ci"]
            value = {"lower": lo, "point": audit["error_rate"], "upper": hi}[self.decide_on]
            if value > self.max_label_error:
                out.append(
                    f"label error {audit['error_rate']:.3f} ({audit['errors']}/{audit['n']} audited, "
                    f"{self.confidence:.0%} CI {lo:.3f}-{hi:.3f}): {RULES[self.decide_on]} {value:.3f} > max {self.max_label_error}"
                )
        if leaked > self.max_contamination:
            out.append(f"contamination: {leaked} test or audit items in the training data > max {self.max_contamination}")
        return out


def duplicates(prompts: list[str], earlier: set[str]) -> dict[str, Any]:
    """Rows that repeat a prompt of this round or of earlier data; `duplicate_rate` counts each such row once."""
    seen: set[str] = set()
    within = repeated = 0
    for p in prompts:
        dup_here = p in seen
        within += dup_here
        repeated += dup_here or p in earlier
        seen.add(p)
    return {
        "duplicate_rate": round(repeated / len(prompts), 4) if prompts else 0.0,
        "duplicates": {"within_round": within, "in_earlier_data": sum(p in earlier for p in prompts)},
    }


def tv_distance(a: Iterable[Any], b: Iterable[Any]) -> float | None:
    """Total-variation distance between two empirical distributions (0: same, 1: disjoint); None if one is empty."""
    ca, cb = Counter(a), Counter(b)
    na, nb = sum(ca.values()), sum(cb.values())
    if not na or not nb:
        return None
    return round(sum(abs(ca[x] / na - cb[x] / nb) for x in ca.keys() | cb.keys()) / 2, 4)
