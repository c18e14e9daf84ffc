"""Judges compared on the same rounds: the same champion, the same candidates, the same earlier data.

    python -m pipeline.tools.judge_table runs/default/<timestamp> [--gens 1 3] [--judges consistency majority committee learned]
    python -m pipeline.tools.judge_table runs/default/<timestamp> --judges committee committee:min_agreement=0.8   # a variant: keys set on conf/judge/<name>.yaml
    python -m pipeline.tools.judge_table runs/default/<timestamp> --labelers run greedy split   # every judge behind each labeler ('run': the run's own labels, the default)
    python -m pipeline.tools.judge_table runs/default/<timestamp> --recorded   # the run's own judge, as curate recorded it: nothing rerun

For each chosen generation of a finished run, every judge decides on the candidates that generation's
champion labelled (`gen_<k>/curate/judged`), given the champion and the earlier data the run had then. Behind
`--labelers run` (the default) each judge is shown the labels the run's own labeler made; behind a conf/labeler/ name,
that labeler starts from the champion's answers as posed, asked again when the run's labeler was not greedy (a judge
that trusts what the champion is sure of cannot vouch for a split label the champion would not give as posed).
Printed (and written to `<run>/judge_table.md` and `.json`): precision, recall and yield overall, on the
round's top level (the farthest past the frontier: what the successor learns anew) and on the stratum of two operands of that length (the hard problems), and the seconds each judge took,
its own training included (each judge builds what it needs in a scratch folder of its own, kept across
the chosen generations: a verifier trained once per run is paid for in the first generation that needs it).
The true answers are read here only to measure the judges, never to decide anything. `--recorded` reads the same
columns from each round's `curation.json` instead (curate counted them with the truth, as measured), so a run's judge
can be read across every round in seconds; it has no recall per level or stratum (curate counts right labels among
the kept ones only) and no seconds.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from pipeline.components.judges import JudgeInput
from pipeline.components.judges.base import label_quality
from pipeline.components.labelers import Greedy
from pipeline.core import plugins, records
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.rundir import RunDir, write_json
from pipeline.core.truth import MEASURE, Truth
from pipeline.ml.data import load_rows
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from pipeline.ml.splits import Splits
from tasks import Problem

#: `--labelers run`: the labels the run's own labeler made, as recorded with each round
RUN = "run"


def score(kept: list[bool], correct: list[bool]) -> dict[str, Any]:
    """`label_quality` (the one place that scores keep decisions) with the counts, under this table's column names."""
    q = label_quality(kept, correct)
    return {"candidates": len(kept), "kept": sum(kept), "precision": q["judge_precision"], "recall": q["judge_recall"],
            "yield": q["judge_yield"] if kept else None}


def subset(kept: list[bool], correct: list[bool], where: list[bool]) -> dict[str, Any]:
    """`score` on the candidates where `where` holds."""
    return score([k for k, w in zip(kept, where) if w], [c for c, w in zip(correct, where) if w])


def compare(run: Path, gens: list[int], judges: list[str], labelers: list[str]) -> list[dict[str, Any]]:
    cfg = OmegaConf.load(run / "run_config.yaml")
    logger = NoLogger()
    logger.start(Path(tempfile.mkdtemp()), "judge_table", {})
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    ctx = Context(cfg, RunDir(run), task, Splits(**cfg.splits), torch.device("cpu"), logger, Truth(task))
    rows = []
    scratch = Path(tempfile.mkdtemp())
    for gen in gens:
        ctx.gen = gen
        ctx.truth.at(gen, "judge_table")
        champion_gen = ctx.read(records.Weaknesses).champion_gen
        model, tok = load(ctx.run.stage_dir(champion_gen, "train") / "model")
        judged = load_rows(ctx.run.stage_dir(gen, "curate") / "judged")[:]
        prompts, labels = judged["prompt"], judged["answer"]  # the labels the run's labeler made
        problems = [Problem(p, "", lv) for p, lv in zip(prompts, judged["level"])]  # answers unknown: read through the ledger
        correct = judged.get("correct") or ctx.truth.correct(problems, labels, MEASURE)  # humans=none rounds were not measured by curate
        # A labeler starts from the champion's answers as posed: a greedy run recorded them; any other run recorded
        # what its labeler made of them, so they are asked again (greedily, as curate asks at temperature 0)
        posed = labels if get_class(cfg.labeler._target_) is Greedy else None
        level = max(judged["level"])
        top = [lv == level for lv in judged["level"]]  # the round's level past the frontier: what the successor learns anew
        hard = [ctx.task.stratum(p) == f"{level}x{level}" for p in prompts]
        earlier = ctx.pool()
        for labeler_name in labelers:
            if labeler_name == RUN:  # the run's own labels, handed to each judge as they are (what the greedy labeler does)
                labeler, given, shown = Greedy(), labels, f"run ({cfg.labeler._target_.rsplit('.', 1)[-1].lower()})"
            else:
                posed = posed or greedy(model, tok, prompts)
                labeler = plugins.instantiate(plugins.option("labeler", labeler_name, cfg), plugins.PROJECT)
                given, shown = posed, labeler_name
            for name in judges:
                judge = plugins.instantiate(plugins.option("judge", name, cfg), plugins.PROJECT)
                inp = JudgeInput(ctx.task, prompts, given, model, tok, seed=cfg.seed * 1000 + gen, earlier=earlier, workdir=scratch / name)
                if judge.reads_ground_truth:
                    inp.truth = ctx.truth.answers(problems, MEASURE)  # only to measure the upper bound on this table
                start = time.time()
                new, kept = labeler.label(judge, inp, partial(greedy, model, tok))
                seconds = time.time() - start
                right = correct if new == labels else ctx.truth.correct(problems, new, MEASURE)
                rows.append({"gen": gen, "level": level, "labeler": shown, "judge": name, "label_accuracy": round(sum(right) / len(right), 4),
                             **score(kept, right), "top": subset(kept, right, top), "hard": subset(kept, right, hard),
                             "seconds": round(seconds, 1)})
                print(line(rows[-1]), flush=True)
    return rows


def counted(strata: list[dict[str, int]]) -> dict[str, Any]:
    """`score`'s columns from curate's per-stratum counts (candidates, kept, kept right) summed over `strata`;
    no recall: curate does not count the right labels it dropped."""
    n, kept, right = (sum(s[k] for s in strata) for k in ("candidates", "kept", "kept_correct"))
    return {"candidates": n, "kept": kept, "precision": right / kept if kept else None, "recall": None, "yield": kept / n if n else None}


def recorded(run: Path, gens: list[int]) -> list[dict[str, Any]]:
    """The rows `compare` would give for the run's own judge and labeler, from what curate recorded of each round."""
    cfg = OmegaConf.load(run / "run_config.yaml")
    rows = []
    for gen in gens:
        c = records.load(records.Curation, RunDir(run).stage_dir(gen, records.Curation.stage))
        level = max(c.levels)
        top = [v for k, v in c.strata.items() if str(level) in k.split("x")]
        rows.append({"gen": gen, "level": level, "labeler": cfg.labeler._target_.rsplit(".", 1)[-1], "judge": f"{c.judge} (recorded)",
                     "label_accuracy": c.label_accuracy, "candidates": c.candidates, "kept": c.kept, "precision": c.judge_precision,
                     "recall": c.judge_recall, "yield": c.judge_yield, "top": counted(top), "hard": counted([c.strata.get(f"{level}x{level}", {
                         "candidates": 0, "kept": 0, "kept_correct": 0})]), "seconds": None})
    return rows


def fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def line(r: dict[str, Any]) -> str:
    t, h = r["top"], r["hard"]
    return (f"| {r['gen']} | {r['level']} | {r['labeler']} | {r['judge']} | {fmt(r['label_accuracy'])} | {fmt(r['precision'])} | {fmt(r['recall'])} | {fmt(r['yield'])} "
            f"| {r['kept']} | {fmt(t['precision'])} | {t['kept']}/{t['candidates']} | {fmt(h['precision'])} | {fmt(h['yield'])} | {h['kept']}/{h['candidates']} | {fmt(r['seconds'])} |")


HEADER = ("| gen | level | labeler | judge | label accuracy | precision | recall | yield | kept | precision, level | kept, level | precision, two long operands "
          "| yield, two long operands | kept, two long operands | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--gens", type=int, nargs="+", help="generations to compare (default: every one with a judged round)")
    parser.add_argument("--judges", nargs="+", default=["consistency", "majority", "committee", "learned"])
    parser.add_argument("--labelers", nargs="+", default=[RUN], help=f"conf/labeler/ names: how the champion's answers become labels "
                        f"('{RUN}': the labels the run's own labeler made)")
    parser.add_argument("--recorded", action="store_true", help="the run's own judge on every round, from curate's records (nothing rerun)")
    args = parser.parse_args()
    gens = args.gens or sorted(int(p.parent.parent.name.split("_")[1]) for p in args.run.glob("gen_*/curate/judged") if p.parent.parent.name != "gen_0")
    print(HEADER)
    if args.recorded:
        rows = recorded(args.run, gens)
        print("\n".join(map(line, rows)))
        return  # the run's own record: nothing new to write into its folder
    rows = compare(args.run, gens, args.judges, args.labelers)
    write_json(args.run / "judge_table.json", rows)
    (args.run / "judge_table.md").write_text(HEADER + "\n" + "\n".join(map(line, rows)) + "\n")


if __name__ == "__main__":
    main()
