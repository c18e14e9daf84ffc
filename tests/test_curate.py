"""Curation: the judge's threshold calibrated on dev items, the recipe's explicit threshold winning."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch
from hydra.utils import instantiate

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Weaknesses
from pipeline.core.report import past_frontier
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.ml.data import load_rows, save_rows
from tests.conftest import make_cfg, record_json


def _ctx(tmp_path: Path, adder: Path, frontier: int, *overrides: str) -> Context:
    """Generation 1 with the 1-digit adder as champion and the given frontier."""
    one_ahead = [] if any(o.startswith("round=") for o in overrides) else ["round.ahead=[1]"]
    cfg = make_cfg(tmp_path, "judge=consistency", *one_ahead, "stage.curate.calibrate=true", "stage.curate.thresholds=[0.999,0.9,0.5]", "stage.curate.n_problems=300", *overrides)
    run = RunDir(tmp_path / "run")
    ctx = Context.build(cfg, run, torch.device("cpu"), NoLogger(), gen=1)
    ctx.logger.start(run.root, "test", {})
    seed = ctx.splits.draw("train", 20, lambda r: ctx.task.sample_mixed(1, r), random.Random(0))
    save_rows({"prompt": [p.prompt for p in seed], "answer": [p.answer for p in seed], "level": [p.level for p in seed]},
              run.stage_dir(0, "curate") / "data")
    shutil.copytree(adder, run.stage_dir(0, "train") / "model")
    write_json(ctx.out("weaknesses") / "weaknesses.json", record_json(Weaknesses, frontier=frontier))
    return ctx


def test_calibration_loosens_where_the_champion_is_right_and_stays_strict_where_it_is_not(tmp_path, adder):
    easy = _ctx(tmp_path / "easy", adder, 0)  # level 1: the adder is right, any threshold is precise
    assert instantiate(easy.cfg.stage.curate).run(easy)["threshold"] == 0.5
    hard = _ctx(tmp_path / "hard", adder, 1)  # level 2: it is wrong, no threshold reaches the target
    summary = instantiate(hard.cfg.stage.curate).run(hard)
    calibration = read_json(hard.out("curate") / "curation.json")["calibration"]
    assert summary["threshold"] == 0.999 and calibration["threshold"] == 0.999
    assert read_json(hard.out("curate") / "curation.json")["judge_threshold"] == 0.999
    assert all(row["precision"] is None or row["precision"] < 0.98 for row in calibration["table"])
    assert calibration["dev_items"] == len(hard.ladder("dev", [2]))


def test_a_recipe_threshold_overrides_calibration(tmp_path, adder):
    ctx = _ctx(tmp_path, adder, 0, "recipe.judge_threshold=0.97")
    summary = instantiate(ctx.cfg.stage.curate).run(ctx)
    curation = read_json(ctx.out("curate") / "curation.json")
    assert "threshold" not in summary and curation["calibration"] is None and curation["judge_threshold"] == 0.97


def test_a_two_level_round_says_how_many_labels_are_past_the_frontier(tmp_path, adder):
    """The adder is right at level 1 and wrong at level 2: the consistency judge keeps level-1 labels, and
    the count past the frontier must say how few of the round's labels teach anything new."""
    ctx = _ctx(tmp_path, adder, 1, "round.ahead=[0,1]", "stage.curate.calibrate=false", "recipe.judge_threshold=0.5")
    instantiate(ctx.cfg.stage.curate).run(ctx)
    curation = read_json(ctx.out("curate") / "curation.json")
    judged = load_rows(ctx.out("curate") / "judged")
    by_level = {lvl: sum(k for k, lv in zip(judged["kept"], judged["level"]) if lv == lvl) for lvl in (1, 2)}
    assert curation["kept_per_level"] == {"1": by_level[1], "2": by_level[2]}
    assert by_level[1] > by_level[2]
    rec = {"new_data_per_level": {int(k): v for k, v in curation["kept_per_level"].items()}}
    assert past_frontier(rec) == f" ({by_level[2]} at level 2)"
    assert past_frontier({"new_data_per_level": {2: 5}}) == ""  # a one-level round: nothing to split


def test_a_capped_ladders_round_never_labels_past_the_cap_whatever_the_round(tmp_path, adder):
    """Every round of the `round` group, from any frontier: no level past eval.max_level, in the round's plan and in the
    data a curate run writes (a span from frontier 3 would reach 6; the cap is 4)."""
    from pipeline.core import plugins
    for name in ("offsets", "as_posed", "span"):
        rnd = plugins.instantiate(make_cfg(tmp_path, f"round={name}").round, plugins.PROJECT)
        assert all(max(rnd.levels(f, 12)) <= 12 for f in range(0, 30))
        assert max(rnd.levels(30, None)) > 30  # no cap: the round goes past any frontier
    ctx = _ctx(tmp_path / "capped", adder, 3, "round=span", "eval.max_level=4", "stage.curate.calibrate=false", "recipe.judge_threshold=0.5")
    instantiate(ctx.cfg.stage.curate).run(ctx)
    curation = read_json(ctx.out("curate") / "curation.json")
    assert curation["levels"] == [4] and set(load_rows(ctx.out("curate") / "judged")["level"]) == {4}
