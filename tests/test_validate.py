"""Config validation before any work, and safe instantiation of `_target_`s."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.core import plugins
from pipeline.core.validate import CHECKS, validate
from pipeline.loop import ConfigError, run_loop
from pipeline.stages import Stage
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]


class EchoStage(Stage):
    """A user's own stage class, outside the project's packages."""

    name = "train"

    def run(self, ctx):  # pragma: no cover - never run
        return {}


@pytest.mark.parametrize("override, message", [
    ("recipe.steps=-1", "recipe.steps=-1 is not allowed; it must be an integer >= 1"),
    ("recipe.batch_size=0", "recipe.batch_size=0 is not allowed; it must be an integer >= 1"),
    ("seed_model.max_steps=0", "seed_model.max_steps=0 is not allowed"),
    ("eval.items_per_level=0", "eval.items_per_level=0 is not allowed; it must be an integer >= 1"),
    ("stage.experiment.checkpoints=0", "stage.experiment.checkpoints=0 is not allowed"),
    ("loop.patience=0", "loop.patience=0 is not allowed; it must be an integer >= 1"),
    ("loop.max_generations=0", "loop.max_generations=0 is not allowed"),
    ("loop.max_minutes=0", "loop.max_minutes=0 is not allowed"),
    ("eval.max_level=0", "eval.max_level=0 is not allowed"),
    ("eval.beyond=0", "eval.beyond=0 is not allowed; it must be an integer >= 1"),
    ("stage.verify.gate.window=3", "stage.verify.gate.window must be <= eval.beyond"),  # the gate's levels must be on its ladder
    ("loop.stages=[]", "loop.stages=[] is not allowed; it must be a list of >= 1 values, each a stage name"),
    ("loop.approve=[verify,polish]", "loop.approve names 'polish', which is not in loop.stages (weaknesses, propose,"),
    ("loop.approve=[train]", "config error: stage train has no veto; remove it from loop.approve"),
    ("approve.policy=maybe", "approve.policy='maybe' is not allowed; it must be accept or reject"),
    ("recipe.lr=0", "recipe.lr=0 is not allowed; it must be a finite number > 0"),
    ("recipe.new_share=1.5", "recipe.new_share=1.5 is not allowed; it must be a number in [0, 1]"),
    ("stage.verify.gate.alpha=1.0", "stage.verify.gate.alpha=1.0 is not allowed; it must be a number in (0, 1)"),
    ("stage.verify.gate.window=0", "stage.verify.gate.window=0 is not allowed"),
    ("stage.verify.gate.threshold=0", "stage.verify.gate.threshold=0 is not allowed; it must be a number in (0, 1]"),
    ("stage.verify.gate.tolerance=-0.1", "stage.verify.gate.tolerance=-0.1 is not allowed"),
    ("stage.verify.gate.correction=bonferroni", "stage.verify.gate.correction='bonferroni' is not allowed; it must be none, spending or fallback"),
    ("splits.audit_pct=0", "splits.audit_pct=0 is not allowed; it must be an integer >= 1"),
    ("splits.audit_pct=80", "splits.test_pct + splits.dev_pct + splits.audit_pct must be < 100"),
    ("device=tpu", "device='tpu' is not allowed; it must be auto, cpu"),
    ("recipe.steps=ten", "recipe.steps='ten' is not allowed"),
    ("stage.experiment.seeds=[0]", "stage.experiment.seeds=[0] is not allowed; it must be a list of >= 2 values"),
    ("model.heads=3", "model.hidden % model.heads must be 0"),
    ("seed_model.levels=5", "seed_model.levels must be < eval.max_level"),  # tiny: max_level 5
    ("seed_model.settle=0.995", "seed_model.settle must be <= seed_model.mastered"),
    ("stage.train.settle=0", "stage.train.settle=0 is not allowed; it must be a number in (0, 1]"),
    ("stage.train.check_every=0", "stage.train.check_every=0 is not allowed; it must be an integer >= 1"),
    ("stage.train.settle=0.995", "stage.train.settle must be <= stage.train.mastered"),
    ("stage.verify.gate.min_items=30", "eval.items_per_level must be >= stage.verify.gate.min_items"),  # tiny: 20 items a level
    ("stage.train._target_=os.system", "stage.train._target_=os.system is not allowed: targets must be classes in pipeline., tasks."),
    ("stage.verify.gate._target_=os.system", "stage.verify.gate._target_=os.system is not allowed"),
    ("stage.train._target_=pipeline.loop.shutil.rmtree", "resolves to shutil.rmtree, not a class of pipeline, tasks"),
    ("task._target_=tasks.addition.NoSuchTask", "task._target_=tasks.addition.NoSuchTask cannot be found"),
    ("executor=submitit executor.cluster=pbs", "stage.experiment.executor.cluster='pbs' is not allowed; it must be local, slurm or auto"),
    ("executor=submitit executor.cpus_per_task=0", "stage.experiment.executor.cpus_per_task=0 is not allowed"),
    ("executor=submitit +executor.extra.slurm_qoss=high", "stage.experiment.executor.extra={'slurm_qoss': 'high'} is not allowed"),
])
def test_values_that_cannot_work_are_refused_before_the_run_folder_exists(tmp_path, override, message):
    cfg = make_cfg(tmp_path, *override.split(" "))
    with pytest.raises(ConfigError) as err:
        run_loop(cfg, tmp_path / "run")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_cuda_is_refused_where_there_is_none(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="device='cuda' is not allowed; it must be auto, cpu \\(no CUDA device here"):
        validate(make_cfg(tmp_path, "device=cuda"))


def test_the_default_config_and_the_presets_pass(tmp_path):
    validate(make_cfg(tmp_path, experiment=None))
    validate(make_cfg(tmp_path))
    for variant in ("judge=majority", "judge=noisy_oracle", "executor=local", "stage/experiment=thorough", "stage/review=strict",
                    "loop.approve=[select,review,verify]"):
        validate(make_cfg(tmp_path, variant))


def test_every_checked_key_exists_in_the_default_config_or_a_variant(tmp_path):
    """A key misspelled in CHECKS would be skipped silently."""
    from omegaconf import OmegaConf

    cfgs = [make_cfg(tmp_path, experiment=None), make_cfg(tmp_path, "judge=majority", "executor=local"),
            make_cfg(tmp_path, "judge=noisy_oracle", "proposer=random"), make_cfg(tmp_path, "judge=consistency", "loop.max_minutes=10", "round=span"), make_cfg(tmp_path, "judge=learned"),
            make_cfg(tmp_path, "judge=committee"), make_cfg(tmp_path, "judge=peers"),
            make_cfg(tmp_path, "executor=submitit", "executor.partition=x", "executor.folder=y", "executor.mem_gb=4")]
    missing = [key for key, _ in CHECKS if all(OmegaConf.select(c, key, default=None) is None and key != "recipe.judge_threshold" for c in cfgs)]
    assert missing == []


@pytest.mark.parametrize("override, key", [("judge.judges.0.members=0", "stage.curate.judge.judges.0.members=0"),
                                           ("judge.judges.1.min_confidence=1.5", "stage.curate.judge.judges.1.min_confidence=1.5")])
def test_the_members_of_a_combining_judge_are_checked_like_the_judge_itself(tmp_path, override, key):
    """any_of holds its judges in a list: a member's bad setting is refused before any work, by its path."""
    with pytest.raises(ConfigError, match=re.escape(key) + " is not allowed"):
        validate(make_cfg(tmp_path, "judge=any_of", override, experiment=None))


def test_a_users_own_class_needs_the_allow_list(tmp_path):
    target = f"{__name__}.EchoStage"
    with pytest.raises(ConfigError, match=f"stage.train._target_={target} is not allowed"):
        validate(make_cfg(tmp_path, f"stage.train._target_={target}"))
    cfg = make_cfg(tmp_path, "stage/train=finetune", f"stage.train._target_={target}", f"plugins.allow=[{__name__.split('.')[0]}]")  # no settings to pass
    validate(cfg)
    assert isinstance(plugins.instantiate(cfg.stage.train, plugins.allowed(cfg)), EchoStage)


def test_instantiate_checks_nested_targets_itself():
    node = {"_target_": "pipeline.stages.verify.Verify", "gate": {"_target_": "os.system", "command": "true"}}
    with pytest.raises(plugins.PluginError, match="gate._target_=os.system is not allowed"):
        plugins.instantiate(node, plugins.PROJECT)


def _cli(run: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline.loop", "experiment=tiny", "logger=none", *overrides, f"hydra.run.dir={run}"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_command_line_prints_one_line_and_exits_non_zero(tmp_path):
    run = tmp_path / "run"
    proc = _cli(run, "recipe.steps=-1")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: config error: recipe.steps=-1 is not allowed; it must be an integer >= 1"
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not run.exists()  # not even Hydra's .hydra/ folder


def test_a_run_folder_that_cannot_be_created_is_one_line_too(tmp_path):
    from tests.test_faults import _immutable, _mutable

    runs = tmp_path / "runs"
    runs.mkdir()
    if not _immutable(runs):
        pytest.skip("chattr +i is not supported here")
    try:
        proc = _cli(runs / "run")
    finally:
        _mutable(runs)
    assert proc.returncode == 2 and proc.stderr.strip().startswith(f"error: cannot create the run folder {runs / 'run'}: ")
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("override, stages", [("judge=oracle", "experiment, curate"), ("scorer=truth", "weaknesses, experiment, train, verify"),
                                              ("scorer=truth stage/train=finetune", "weaknesses, experiment, verify"),
                                              ("stage/review=audit", "review")])
def test_a_stage_that_would_read_truth_under_humans_none_is_refused_before_any_work(tmp_path, override, stages):
    cfg = make_cfg(tmp_path, "humans=none", *override.split(" "))
    with pytest.raises(ConfigError, match=f"humans=none lets no stage but \\[\\] read ground truth, but {stages} would"):
        run_loop(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    validate(make_cfg(tmp_path, "humans=none"))  # the mode's own label-free choices pass
    validate(make_cfg(tmp_path, "humans=spot_check"))  # the review's audit is the one reader it allows
