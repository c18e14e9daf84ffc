"""Pilots: every built candidate x seed trains and is scored; parallel workers repeat inline results exactly."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.context import Context
from pipeline.data import save_rows
from pipeline.executors import Inline, Local
from pipeline.logger import NoLogger
from pipeline.rundir import RunDir, read_json, write_json
from pipeline.splits import Splits
from pipeline.stages.experiment import Experiment, pool_sources
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg

SEEDS = (0, 1)


def make_ctx(root: Path, adder: Path) -> Context:
    """Generation 2 of a run whose seed (gen 0) and gen 1 were both promoted: two rounds of data."""
    cfg = make_cfg(root, "executor=inline", "stage/experiment=pilots")
    run = RunDir(root / "run")
    task = ReversedAddition()
    for gen, level in ((0, 1), (1, 2)):
        shutil.copytree(adder, run.stage_dir(gen, "train") / "model")
        problems = task.sample(level, 300, random.Random(gen))
        save_rows({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems], "level": [level] * 300},
                  run.stage_dir(gen, "curate") / "data")
        write_json(run.stage_dir(gen, "verify") / "verdict.json", {"promoted": True, "successor_frontier": 1})
    logger = NoLogger()
    logger.start(run.root, "test", {})
    ctx = Context(cfg, run, instantiate(cfg.task), Splits(**cfg.splits), torch.device("cpu"), logger, gen=2)
    recipe = OmegaConf.to_container(cfg.recipe, resolve=True)
    built = [
        {"id": "champion", "recipe": recipe},
        {"id": "lr_up", "recipe": {**recipe, "lr": 3 * recipe["lr"]}},
        {"id": "scratch", "recipe": {**recipe, "warm_start": False, "hidden": 32, "layers": 1, "heads": 2}},
    ]
    write_json(ctx.out("build") / "built.json", {"built": built, "dropped": []})
    return ctx


def run_experiment(ctx: Context, executor) -> dict:
    stage = Experiment(executor, seeds=SEEDS, steps=4, batch_scale=0.5, items_per_level=10, checkpoints=2, max_rows=256)
    return stage.run(ctx)


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory, adder) -> Context:
    ctx = make_ctx(tmp_path_factory.mktemp("inline"), adder)
    run_experiment(ctx, Inline())
    return ctx


def test_the_stage_builds_from_config_with_the_configured_executor(tmp_path):
    cfg = make_cfg(tmp_path, "executor=local", "stage/experiment=pilots")
    stage = instantiate(cfg.stage.experiment)
    assert isinstance(stage, Experiment) and isinstance(stage.executor, Local) and len(stage.seeds) >= 2


def test_pilots_write_curves_for_every_candidate_and_seed(inline_run):
    out = inline_run.out("experiment")
    index = read_json(out / "experiment.json")
    assert index["frontier"] == 1 and index["levels"] == [1, 2] and index["seeds"] == list(SEEDS)
    assert sorted((p["id"], p["seed"]) for p in index["pilots"]) == sorted((c, s) for c in ("champion", "lr_up", "scratch") for s in SEEDS)
    for entry in index["pilots"]:
        rec = read_json(out / entry["file"])
        assert entry["file"] == f"pilots/{rec['id']}-s{rec['seed']}.json"
        assert len(rec["curve"]) >= 2 and all(p["loss"] is not None for p in rec["curve"])
        assert [c["step"] for c in rec["checkpoints"]] == [3, 4]  # two checkpoints, so a slope exists
        assert set(rec["final_acc"]) == {"1", "2"} and rec["items"]["2"] == 10  # level 1 has fewer dev prompts
        assert rec["flops"] > 0 and not rec["diverged"] and rec["batch_size"] == 16
    champ = read_json(out / "pilots/champion-s0.json")
    assert champ["final_acc"]["1"] > 0.5  # warm start keeps what the champion knows
    assert read_json(out / "pilots/scratch-s0.json")["params"] < champ["params"]


def test_two_promoted_rounds_are_mixed_by_new_share(inline_run):
    sources = pool_sources(inline_run, 0.25)
    assert [len(s["paths"]) for s in sources] == [1, 1] and [s["weight"] for s in sources] == [0.25, 0.75]
    assert sources[0]["paths"][0].endswith("gen_1/curate/data")


def test_local_workers_repeat_inline_pilots_exactly(inline_run, tmp_path, adder):
    ctx = make_ctx(tmp_path, adder)
    run_experiment(ctx, Local(workers=2))
    for entry in read_json(ctx.out("experiment") / "experiment.json")["pilots"]:
        local = read_json(ctx.out("experiment") / entry["file"])
        inline = read_json(inline_run.out("experiment") / entry["file"])
        for key in ("final_acc", "final_loss", "curve", "checkpoints", "flops"):
            assert local[key] == inline[key], (entry["file"], key)
