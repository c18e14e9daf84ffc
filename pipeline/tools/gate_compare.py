"""Label-free gates compared on the same successors: what each would have decided, against ground truth.

    python -m pipeline.tools.gate_compare runs/h8/<run> [<run> ...] [--scorers self_consistency confidence confidence:min_confidence=0.99]

For every generation of the given runs that trained a successor, the gate (the run's own `Gate`: exact
McNemar at the level past the champion's frontier, no significant regression below it) decides between
the same champion and successor with each label-free scorer standing in for the true answers, on the
test ladder's prompts. The shadow audit's ground-truth verdict on the same pair says which decisions
were right. Printed (and written to `gate_compare.md` / `.json` next to the first run): per scorer, the
correct and false promotions and rejections, and the frontier each scorer would have estimated against
the true one. The true answers are read only by the audit, to measure, never here.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import transformers
from omegaconf import OmegaConf

from pipeline.components.gate import Gate
from pipeline.core import plugins, records
from pipeline.core.rundir import RunDir, write_json
from pipeline.ml.evaluate import correctness
from pipeline.ml.model import load
from pipeline.ml.splits import Splits
from pipeline.stages.audit import OUTCOMES


def compare(runs: list[Path], scorers: list[str]) -> list[dict[str, Any]]:
    """One row per (run, generation, scorer): the label-free verdict and the ground-truth one."""
    return [row for run in runs for row in compare_run(run, scorers)]


def compare_run(run: Path, scorers: list[str]) -> list[dict[str, Any]]:
    cfg = OmegaConf.load(run / "run_config.yaml")
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    top = max(lv for v in run.glob("gen_*/verify/verdict.json") for lv in records.load(records.Verdict, v.parent).items)  # the furthest any gate climbed
    items = Splits(**cfg.splits).ladder(task, "test", range(1, top + 1), cfg.eval.items_per_level, cfg.seed)
    gate = Gate(**{k: v for k, v in OmegaConf.to_container(cfg.stage.verify.gate, resolve=True).items() if k != "_target_"})
    cache: dict[tuple[int, str], list[bool]] = {}

    def scored(gen: int, spec: str) -> list[bool]:  # each model scored once per scorer: a champion serves several generations
        if (gen, spec) not in cache:
            model, tok = load(run / f"gen_{gen}" / "train" / "model")
            cache[gen, spec] = correctness(model, tok, task, items, plugins.instantiate(plugins.option("scorer", spec, cfg), plugins.PROJECT), None)
        return cache[gen, spec]

    rows = []
    for gen, truth in truths(run, cfg):
        for spec in scorers:
            start = time.time()
            verdict = gate.decide(items, scored(truth["champion_gen"], spec), scored(gen, spec), truth.get("alpha"))  # at the decision's level in the run
            rows.append({"run": str(run), "gen": gen, "scorer": spec, "promoted": verdict.promoted, "truth_promoted": truth["truth_promoted"],
                         "outcome": OUTCOMES[(verdict.promoted, truth["truth_promoted"])], "estimated_frontier": verdict.successor_frontier,
                         "true_frontier": truth["successor_frontier"], "seconds": round(time.time() - start, 1)})
            print(f"{run} gen {gen} {spec}: {rows[-1]['outcome']} (estimated frontier {verdict.successor_frontier}, "
                  f"true {truth['successor_frontier']})", flush=True)
    return rows


def truths(run: Path, cfg: Any) -> list[tuple[int, dict[str, Any]]]:
    """(generation, ground truth on its successor) for every generation that trained one: the shadow audit's,
    or, in a run whose own gate scored true answers (humans=all, and runs without a shadow audit), its verdict."""
    out, folders = [], RunDir(run)
    for gen in sorted(int(p.name.split("_")[1]) for p in run.glob("gen_*") if p.name != "gen_0"):
        audit, verdict = folders.stage_dir(gen, records.Audit.stage), folders.stage_dir(gen, records.Verdict.stage)
        if (audit / records.Audit.file).is_file():
            rec = records.load(records.Audit, audit)
            if rec.truth_promoted is not None:
                out.append((gen, {"champion_gen": rec.champion_gen, "truth_promoted": rec.truth_promoted, "successor_frontier": rec.successor_frontier,
                                  "alpha": rec.alpha}))
        elif (verdict / records.Verdict.file).is_file() and cfg.get("scorer", {}).get("_target_", "pipeline.components.scorers.TrueAnswers").endswith("TrueAnswers"):
            v = records.load(records.Verdict, verdict)
            out.append((gen, {"champion_gen": v.champion_gen, "truth_promoted": v.promoted, "successor_frontier": v.successor_frontier}))
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scorer | pairs | correct promotions | false promotions | false rejections | correct rejections | frontier estimate exact |",
             "|---|---|---|---|---|---|---|"]
    for spec in dict.fromkeys(r["scorer"] for r in rows):
        mine = [r for r in rows if r["scorer"] == spec]
        n = {o: sum(r["outcome"] == o for r in mine) for o in OUTCOMES.values()}
        exact = sum(r["estimated_frontier"] == r["true_frontier"] for r in mine)
        lines.append(f"| {spec} | {len(mine)} | {n['correct promotion']} | {n['false promotion']} | {n['false rejection']} | "
                     f"{n['correct rejection']} | {exact}/{len(mine)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--scorers", nargs="+", default=["self_consistency", "confidence"])
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    rows = compare(args.runs, args.scorers)
    text = table(rows)
    print(text)
    write_json(args.runs[0] / "gate_compare.json", rows)
    (args.runs[0] / "gate_compare.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
