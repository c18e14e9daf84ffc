"""Pilots: every built candidate x seed trains and is scored; parallel workers and submitit jobs repeat inline results exactly."""
from __future__ import annotations

import random
import shutil
from operator import itemgetter
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.components.executors import Inline, Local, Submitit
from pipeline.components.judges import ConsistencyJudge
from pipeline.components.labelers import Greedy
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Built, BuiltCandidate, TrainRecord, Verdict, Weaknesses
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.core.validate import validate
from pipeline.ml.data import save_rows
from pipeline.stages.experiment import Experiment, pilot_sources
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg, record_json

SEEDS = (0, 1)


def make_ctx(root: Path, adder: Path, built: list[dict] | None = None, frontier: int = 1, rows: int = 300) -> Context:
    """Generation 2 of a run whose seed (gen 0) and gen 1 were both promoted: two rounds of data."""
    cfg = make_cfg(root, "executor=inline", "stage/experiment=pilots")
    run = RunDir(root / "run")
    task = ReversedAddition()
    for gen, level in ((0, 1), (1, 2)):
        shutil.copytree(adder, run.stage_dir(gen, "train") / "model")
        problems = task.sample(level, rows, random.Random(gen))
        save_rows({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems], "level": [level] * rows},
                  run.stage_dir(gen, "curate") / "data")
        write_json(run.stage_dir(gen, "verify") / "verdict.json", record_json(Verdict, promoted=True))
        write_json(run.stage_dir(gen, "train") / "train.json", record_json(TrainRecord, recipe=OmegaConf.to_container(cfg.recipe, resolve=True)))
    write_json(run.stage_dir(2, "weaknesses") / "weaknesses.json", record_json(Weaknesses, frontier=frontier))  # the pilots' levels follow the dev ladder's frontier
    logger = NoLogger()
    logger.start(run.root, "test", {})
    ctx = Context.build(cfg, run, torch.device("cpu"), logger, gen=2)
    recipe = OmegaConf.to_container(cfg.recipe, resolve=True)
    built = built or [
        {"id": "champion", "recipe": recipe},
        {"id": "lr_up", "recipe": {**recipe, "lr": 3 * recipe["lr"]}},
        {"id": "scratch", "recipe": {**recipe, "warm_start": False, "hidden": 32, "layers": 1, "heads": 2}},
    ]
    write_json(ctx.out("build") / "built.json",
               record_json(Built, built=[record_json(BuiltCandidate, **{**b, "recipe": {**recipe, **b["recipe"]}}) for b in built], dropped=[]))
    return ctx


def run_experiment(ctx: Context, executor, min_confidence: float = 0.9) -> dict:
    stage = Experiment(executor, ConsistencyJudge(min_confidence=min_confidence), Greedy(), round_size=64, seeds=SEEDS, steps=4, batch_scale=0.5,
                       items_per_level=10, checkpoints=2, max_rows=256)
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
    scratch = read_json(out / "pilots/scratch-s0.json")
    assert champ["final_acc"]["1"] > scratch["final_acc"]["1"]  # warm start keeps some of what the champion knows; 4 steps teach nothing
    assert scratch["params"] < champ["params"]


def test_the_pilot_round_gets_new_share_and_each_earlier_round_its_part_of_the_rest(inline_run):
    sources = pilot_sources(inline_run, "round", 0.25)  # data=balanced, the default
    assert [s["weight"] for s in sources] == [0.25, 0.375, 0.375] and sources[0]["paths"] == ["round"]
    assert [[p.rsplit("/", 3)[-3:] for p in s["paths"]] for s in sources[1:]] == [[["gen_0", "curate", "data"]], [["gen_1", "curate", "data"]]]
    index = read_json(inline_run.out("experiment") / "experiment.json")
    (only,) = index["rounds"]  # every candidate here has the champion's temperature and judge threshold
    assert 0 < only["candidates"] <= 64 and only["kept"] <= only["candidates"]  # level-2 problems not already in the earlier data


def test_every_knob_a_proposer_turns_changes_the_pilot(tmp_path, adder):
    """steps, temperature, judge threshold and new_share each give a pilot that differs from the control's."""
    knobs = {"steps": {"steps": 20}, "temperature": {"temperature": 3.0}, "judge_threshold": {"judge_threshold": 0.3},  # tiny's recipe: 10 steps
             "new_share": {"new_share": 0.9}}
    # frontier 0: the pilot round is at level 1, where the adder answers, unsure enough of about half its answers for a
    # judge at 0.95 to drop them; 20 earlier rows leave most of level 1's 100 problems for the round
    ctx = make_ctx(tmp_path, adder, [{"id": "champion", "recipe": {}}] + [{"id": k, "recipe": v} for k, v in knobs.items()], frontier=0, rows=20)
    run_experiment(ctx, Inline(), min_confidence=0.95)
    out = ctx.out("experiment")
    index = read_json(out / "experiment.json")
    rounds = {(r["temperature"], r["judge_threshold"]): r for r in index["rounds"]}
    assert len(rounds) == 3 and rounds[(0.0, 0.3)]["kept"] > rounds[(0.0, None)]["kept"]  # a looser judge keeps more of the same labels
    assert rounds[(3.0, None)]["kept"] < rounds[(0.0, None)]["kept"]  # hot samples the champion is unsure of
    control = read_json(out / "pilots/champion-s0.json")
    assert control["steps"] == 4
    for knob in knobs:
        pilot = read_json(out / f"pilots/{knob}-s0.json")
        assert pilot["curve"] != control["curve"], knob  # trained on other data, or for longer
    assert read_json(out / "pilots/steps-s0.json")["steps"] == 2 * control["steps"]  # twice the champion's steps: a pilot twice as long


def test_local_workers_repeat_inline_pilots_exactly(inline_run, tmp_path, adder):
    ctx = make_ctx(tmp_path, adder)
    run_experiment(ctx, Local(workers=2))
    for entry in read_json(ctx.out("experiment") / "experiment.json")["pilots"]:
        local = read_json(ctx.out("experiment") / entry["file"])
        inline = read_json(inline_run.out("experiment") / entry["file"])
        for key in ("final_acc", "final_loss", "curve", "checkpoints", "flops"):
            assert local[key] == inline[key], (entry["file"], key)


@pytest.mark.slow  # ~50 s here: every job a fresh python that imports torch and transformers
def test_submitit_jobs_repeat_inline_pilots_exactly(inline_run, tmp_path, adder):
    """executor=submitit with its local backend: every pilot a submitit job, the same records as inline, logs in the stage's folder.
    Two of inline's three candidates (a warm start and a fresh model), so fewer processes start: a pilot depends on its own recipe and seed only."""
    ctx = make_ctx(tmp_path, adder, [{"id": "lr_up", "recipe": {"lr": 3 * inline_run.cfg.recipe.lr}},
                                     {"id": "scratch", "recipe": {"warm_start": False, "hidden": 32, "layers": 1, "heads": 2}}])
    run_experiment(ctx, Submitit(cluster="local"))
    out = ctx.out("experiment")
    index = read_json(out / "experiment.json")
    assert index["executor"] == "Submitit" and len(index["pilots"]) == 2 * len(SEEDS)
    for entry in index["pilots"]:
        jobbed, inline = read_json(out / entry["file"]), read_json(inline_run.out("experiment") / entry["file"])
        for key in ("final_acc", "final_loss", "curve", "checkpoints", "flops"):
            assert jobbed[key] == inline[key], (entry["file"], key)
    assert len(list((out / "submitit").glob("*_log.err"))) == 2 * len(SEEDS)


def test_a_failed_submitit_job_is_named_with_its_log(tmp_path):
    jobs = [{"id": "ok", "seed": 0, "x": 1}, {"id": "broken", "seed": 1}]  # itemgetter("x") raises KeyError on the second
    with pytest.raises(RuntimeError, match=r"job 1 of 2 \(id=broken, seed=1\) failed as submitit job \S+; its log: ") as err:
        Submitit(cluster="local").map(itemgetter("x"), jobs, tmp_path)
    log = Path(str(err.value).rsplit("its log: ", 1)[1])
    assert log.is_relative_to(tmp_path / "submitit") and "KeyError: 'x'" in log.read_text()


def test_submitit_on_slurm_composes_and_validates_without_submitting(tmp_path):
    cfg = make_cfg(tmp_path, "executor=submitit", "stage/experiment=pilots", "executor.cluster=slurm", "executor.partition=x",
                   "executor.gpus_per_node=1", "executor.cpus_per_task=4", "+executor.extra.slurm_qos=high")
    validate(cfg)
    executor = instantiate(cfg.stage.experiment).executor
    assert isinstance(executor, Submitit) and executor.cluster == "slurm" and executor.cpus_per_task == 4
    assert executor.parameters == {"timeout_min": 60, "cpus_per_task": 4, "gpus_per_node": 1, "mem_gb": None, "slurm_partition": "x", "slurm_qos": "high"}
