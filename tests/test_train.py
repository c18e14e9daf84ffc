"""The train stage: `until_learned` (the default) treats the recipe's steps as a cap, `finetune` trains all of them.

The dev checks' accuracies are scripted (the tiny model trains for real, but what it learns is not the point):
these tests pin down which step each decision is taken at, and which levels are checked."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import pipeline.ml.fitting
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Weaknesses
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.ml.data import save_rows
from pipeline.stages.train import Train, UntilLearned
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg, record_json

CAP = 200  # the recipe's steps; its decay starts at 140 (30%), so checks at 50 and 100 are at the peak, 150 in the decay


def make_ctx(root: Path, adder: Path, round_level: int = 3) -> Context:
    """Generation 1 of a run whose seed (frontier 1 on the dev ladder, as weaknesses measured it) is the champion, with a
    round at `round_level`. The seed has no verdict: training must not read the gate's test ladder or anything measured on it."""
    cfg = make_cfg(root, f"recipe.steps={CAP}", "recipe.batch_size=8", "recipe.warmup=5")
    run = RunDir(root / "run")
    task = ReversedAddition()
    shutil.copytree(adder, run.stage_dir(0, "train") / "model")
    write_json(run.stage_dir(1, "weaknesses") / "weaknesses.json", record_json(Weaknesses, frontier=1))
    for gen, level in ((0, 1), (1, round_level)):
        problems = task.sample(level, 50, random.Random(gen))
        save_rows({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems], "level": [level] * 50},
                  run.stage_dir(gen, "curate") / "data")
    logger = NoLogger()
    logger.start(run.root, "test", {})
    return Context.build(cfg, run, torch.device("cpu"), logger, gen=1)


def _train(tmp_path: Path, adder: Path, monkeypatch: pytest.MonkeyPatch, accuracies: list[float], stage: Train | None = None,
           mastered_level: float = 1.0) -> tuple[dict, list[set[int]]]:
    """Each check scores the round's highest level (3) by `accuracies`, level 2 at 1.0 and level 1, the champion's
    frontier, at `mastered_level`."""
    script, levels = iter(accuracies), []

    def scripted(items, right):
        levels.append({p.level for p in items})
        acc = next(script)
        return {lv: acc if lv == max(levels[-1]) else mastered_level if lv == 1 else 1.0 for lv in sorted(levels[-1])}
    monkeypatch.setattr(pipeline.ml.fitting, "per_level", scripted)
    ctx = make_ctx(tmp_path, adder)
    (stage or UntilLearned(check_items=5)).run(ctx)
    return read_json(ctx.out("train") / "train.json"), levels


def test_a_generation_that_has_learned_its_round_decays_at_once_and_stops_long_before_the_cap(tmp_path, adder, monkeypatch):
    stats, levels = _train(tmp_path, adder, monkeypatch, [0.97])
    # learned at its first check: a decay of 30% of a run of that length (22 steps) and no further check
    assert stats["learned_at"] == 50 and stats["steps"] == 72 and stats["cap"] == CAP
    assert [c["step"] for c in stats["checks"]] == [50]
    assert levels == [{1, 2, 3}]  # every level up to the round's highest, the ones in between included
    assert stats["curve"][-1]["lr"] < 0.2 * 1e-3


def test_a_generation_that_never_learns_its_round_trains_the_whole_cap(tmp_path, adder, monkeypatch):
    stats, _ = _train(tmp_path, adder, monkeypatch, [0.5, 0.85, 0.98])
    assert stats["learned_at"] is None and stats["steps"] == CAP
    assert [c["step"] for c in stats["checks"]] == [50, 100, 150]


def test_a_round_learned_while_a_mastered_level_slipped_below_mastered_is_not_learned(tmp_path, adder, monkeypatch):
    # the new levels at 1.0 from the first check, the frontier's level at 0.97 (settle would pass it, mastered does not)
    stats, _ = _train(tmp_path, adder, monkeypatch, [1.0, 1.0, 1.0], mastered_level=0.97)
    assert stats["learned_at"] is None and stats["steps"] == CAP


def test_a_decay_check_that_finds_every_level_mastered_ends_the_training_there(tmp_path, adder, monkeypatch):
    # not learned at the peak (50, 100); the cap's own decay from 140, whose check at 150 finds it mastered
    stats, _ = _train(tmp_path, adder, monkeypatch, [0.5, 0.5, 0.995])
    assert stats["steps"] == 150 and stats["learned_at"] is None


def test_finetune_trains_every_step_and_checks_nothing(tmp_path, adder, monkeypatch):
    stats, levels = _train(tmp_path, adder, monkeypatch, [], Train())
    assert stats["steps"] == CAP and levels == [] and "checks" not in stats


def test_the_default_train_stage_is_until_learned_and_refuses_bars_that_cannot_work(tmp_path):
    cfg = make_cfg(tmp_path, experiment=None)
    assert type(instantiate(cfg.stage.train)) is UntilLearned
    assert OmegaConf.select(make_cfg(tmp_path, "stage/train=finetune", experiment=None), "stage.train._target_") == "pipeline.stages.train.Train"
    for bad in ({"settle": 0.99, "mastered": 0.95}, {"settle": 0.0}, {"check_every": 0}, {"check_items": 0}):
        with pytest.raises(ValueError, match="settle <= mastered"):
            UntilLearned(**bad)
