"""Stage 3: broken candidates come out repaired (nan lr, too hot an lr, over budget, heads) or dropped with a reason."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.components.judges import LengthJudge
from pipeline.components.proposers.base import candidate
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Candidates
from pipeline.core.rundir import RunDir
from pipeline.ml.data import save_rows
from pipeline.ml.model import build_model, build_tokenizer, n_params, save
from pipeline.stages.build import Build, memory_estimate
from tests.conftest import make_cfg
from tests.test_propose import research_overrides


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread, or OpenMP contention makes each step ~30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """Generation 1 of a run whose seed (gen 0) is an untrained hidden-32 x 2-layer model with 200 ground-truth rows
    (batches of 8 and a 300k-parameter budget keep every check small)."""
    cfg = make_cfg(tmp_path, *research_overrides(), "recipe.batch_size=8", "stage.build.max_params=300000")
    run = RunDir(tmp_path / "run")
    task = instantiate(cfg.task)
    tok = build_tokenizer(task.alphabet)
    save(build_model(tok, 32, 2, 4, seed=0), tok, run.stage_dir(0, "train") / "model")
    problems = task.sample_upto(2, 200, random.Random(0))
    save_rows({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems], "level": [p.level for p in problems]},
              run.stage_dir(0, "curate") / "data")
    logger = NoLogger()
    logger.start(run.root, "test", {})
    return Context.build(cfg, run, torch.device("cpu"), logger, gen=1)


def build(ctx: Context, stage: Build, **ideas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run `stage` on the control plus `ideas` (id -> recipe changes); every outcome by id."""
    champion = ctx.champion_recipe()
    cands = [candidate("champion", champion, {}, "control", "none")] + [candidate(i, champion, c, "test", "test") for i, c in ideas.items()]
    ctx.write(Candidates(champion_recipe=champion, weaknesses=[], candidates=cands))
    summary = stage.run(ctx)
    out = json.loads((ctx.out("build") / "built.json").read_text())
    assert summary == {"built": len(out["built"]), "dropped": len(out["dropped"]), "repairs": sum(len(r["repairs"]) for r in out["built"] + out["dropped"]),
                       "flops": sum(r["trial_flops"] for r in out["built"])}
    assert all(0 < r["trial_flops"] < r["flops"] for r in out["built"])  # one trial step, against the full budget
    assert out["memory"] == "estimate"  # on the CPU
    return {r["id"]: r for r in out["built"] + out["dropped"]}


def test_build_repairs_nan_lr_hot_lr_heads_and_over_budget(ctx):
    stage = instantiate(ctx.cfg.stage.build)
    lr = ctx.cfg.recipe.lr
    got = build(ctx, stage, nan_lr={"lr": float("nan")}, hot_lr={"lr": 0.5},
                wide={"warm_start": False, "hidden": 4096}, heads={"warm_start": False, "hidden": 48, "heads": 5, "layers": 1})
    champ = got["champion"]
    assert champ["repairs"] == [] and champ["recipe"] == OmegaConf.to_container(ctx.cfg.recipe, resolve=True)
    assert champ["params"] == n_params(build_model(build_tokenizer(ctx.task.alphabet), 32, 2, 4, seed=0))
    assert 0 < champ["memory_mb"] <= stage.max_memory_mb and champ["flops"] > 0 and champ["loss"] > 0
    assert got["nan_lr"]["recipe"]["lr"] == lr and got["nan_lr"]["repairs"] == [f"lr nan is not a positive number: the champion's lr {lr}"]
    hot = got["hot_lr"]
    assert hot["recipe"]["lr"] == pytest.approx(0.05) and len(hot["repairs"]) == 1 and hot["repairs"][0].startswith("unstable step at lr 0.5")
    wide = got["wide"]
    assert wide["recipe"]["hidden"] == 64 and wide["params"] <= stage.max_params < 4 * wide["params"]
    assert [r.split(": ")[-1] for r in wide["repairs"]] == ["hidden 4096 -> 2048", "hidden 2048 -> 1024", "hidden 1024 -> 512", "hidden 512 -> 256", "hidden 256 -> 128", "hidden 128 -> 64"]
    assert wide["repairs"][0].startswith("1,073,840,128 parameters > 300,000")
    assert got["heads"]["recipe"]["heads"] == 4 and got["heads"]["repairs"] == ["heads 5 do not divide hidden 48: heads 4"]
    assert all("reason" not in r for r in got.values())


def test_build_drops_the_unrepairable_with_a_reason(ctx):
    got = build(ctx, Build(LengthJudge(), max_params=10**6, max_memory_mb=100, lr_cuts=1), blowup={"lr": 1e6},
                empty={"warm_start": False, "layers": 0}, threshold={"judge_threshold": 0.999})
    assert "reason" not in got["champion"]
    assert got["blowup"]["reason"].startswith("unstable step at lr 100000") and got["blowup"]["reason"].endswith("after 1 lr cuts")
    assert got["blowup"]["repairs"] == [got["blowup"]["repairs"][0]] and "lr / 10 = 100000" in got["blowup"]["repairs"][0]
    assert got["empty"]["reason"] == "not positive integers: layers=0"
    assert got["threshold"]["reason"] == "judge_threshold 0.999 set, but the judge (LengthJudge) has no threshold"


def test_a_tiny_memory_budget_shrinks_fresh_models_and_drops_warm_starts(ctx):
    stage = Build(LengthJudge(), max_params=10**6, max_memory_mb=0.1)
    got = build(ctx, stage, fresh={"warm_start": False, "hidden": 64, "layers": 4, "heads": 4})
    assert got["champion"]["reason"].endswith("a warm start has the champion's size and cannot shrink")
    fresh = got["fresh"]
    assert [r.split(": ")[-1] for r in fresh["repairs"]] == ["hidden 64 -> 32", "layers 4 -> 2", "layers 2 -> 1"]
    assert fresh["reason"].endswith("even at hidden 32, layers 1")


def test_memory_estimate_counts_optimizer_states_and_activations():
    base = memory_estimate(10**6, 64, 4, 4, 15, 32, 20)
    assert base > 16 * 10**6 / 2**20
    assert memory_estimate(10**6, 64, 4, 4, 15, 64, 20) > base and memory_estimate(10**6, 64, 8, 4, 15, 32, 20) > base
