"""Faults a run must survive: damaged outputs of finished stages, a torn event log, a folder that
cannot be written, a second loop on the same folder, a training run that blows up or has nothing to train on.

One finished tiny run (the four-stage loop) is made once and copied into each test."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.core.rundir import LOCK, RunDir, RunDirError
from pipeline.loop import ConfigError, run_loop
from tests.conftest import make_cfg

FOUR = "loop.stages=[weaknesses,curate,train,verify]"
ARGS = (FOUR, "judge=none", "loop.max_generations=1")  # every label kept: a round with rows whatever the tiny seed answers


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    run_loop(make_cfg(run.parent, *ARGS), run)
    return run


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def _events(run: Path) -> list[dict]:
    return RunDir(run).events()


def _resume(run: Path, tmp_path: Path) -> tuple[dict, list[tuple[int, str]]]:
    """Run the loop again on `run`; returns the summary and the stages it started."""
    n = len(_events(run))
    summary = run_loop(make_cfg(tmp_path, *ARGS), run)
    return summary, [(e["gen"], e["stage"]) for e in _events(run)[n:] if e["event"] == "stage_start"]


def _results(summary: dict) -> list[dict]:
    """What a run found, without its timings (as summary.json holds it: JSON keys)."""
    return [{k: v for k, v in g.items() if k not in ("seconds", "compute")} for g in json.loads(json.dumps(summary))["generations"]]


def test_a_truncated_model_in_a_finished_generation_is_trained_again(run, tmp_path, finished):
    model = run / "gen_1" / "train" / "model" / "model.safetensors"
    original = model.read_bytes()
    model.write_bytes(original[: len(original) // 2])
    summary, started = _resume(run, tmp_path)
    assert started == [(1, "train")]  # nothing else ran again
    assert [e for e in _events(run) if e["event"] == "stage_invalid"][0]["reason"].startswith("gen_1/train/model/model.safetensors has changed")
    assert model.read_bytes() == original  # CPU training repeats exactly
    assert _results(summary) == _results(json.loads((finished / "summary.json").read_text()))


def test_a_truncated_curated_dataset_is_curated_again(run, tmp_path):
    arrow = next((run / "gen_1" / "curate" / "data").glob("*.arrow"))
    original = arrow.read_bytes()
    arrow.write_bytes(original[:100])
    _, started = _resume(run, tmp_path)
    assert started == [(1, "curate")]
    assert arrow.read_bytes() == original


def test_a_damaged_seed_output_lays_out_generation_0_again(run, tmp_path):
    data = next((run / "gen_0" / "curate" / "data").glob("*.arrow"))
    data.unlink()
    _, started = _resume(run, tmp_path)
    assert started == [(0, "seed")] and data.is_file()


def test_a_torn_last_event_line_is_skipped_and_the_log_stays_appendable(run, tmp_path, capsys):
    log = run / "events.jsonl"
    whole = len(_events(run))
    with open(log, "a") as f:
        f.write('{"time": 1.0, "event": "stage_st')  # a kill in the middle of a write
    (run / "gen_1" / "verify" / "DONE.json").unlink()
    summary, started = _resume(run, tmp_path)
    assert started == [(1, "verify")] and summary["stop_reason"]
    assert "skipping torn line" in capsys.readouterr().out
    events = _events(run)
    assert len(events) > whole and events[-1]["event"] == "run_end"  # records after the torn line parse
    assert len(log.read_text().splitlines()) == len(events) + 1  # only the torn line is skipped


def test_a_second_loop_on_the_same_folder_is_refused(run, tmp_path):
    with open(run / LOCK, "w") as held:  # another process's lock on the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        with pytest.raises(RunDirError, match=r"in use by another loop \(pid 4242\)"):
            run_loop(make_cfg(tmp_path, *ARGS), run)
    assert (run / "gen_1" / "verify" / "DONE.json").is_file()  # nothing was cleared or rerun


def test_a_stale_lock_of_a_killed_run_is_taken_over(run, tmp_path, capsys):
    (run / LOCK).write_text("999999\n")  # the pid of a run that was killed: its flock died with it
    (run / "gen_1" / "verify" / "DONE.json").unlink()
    _, started = _resume(run, tmp_path)
    assert started == [(1, "verify")]
    assert "taking over the lock of" in (out := capsys.readouterr().out) and "from pid 999999" in out
    assert (run / LOCK).read_text() == ""  # a clean end leaves no pid behind


def _immutable(folder: Path) -> bool:
    """Make `folder` unwritable even for root (chattr +i); False where the file system cannot."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def _mutable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o700)


def test_a_read_only_runs_folder_is_refused_before_any_work(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    if not _immutable(runs):
        pytest.skip("chattr +i is not supported here")
    try:
        with pytest.raises(RunDirError, match="cannot write to the run folder .*run: "):
            run_loop(make_cfg(tmp_path, *ARGS), runs / "run")
    finally:
        _mutable(runs)
    assert not (runs / "run").exists()


def test_a_read_only_cache_trains_the_seed_for_the_run_and_says_so(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    if not _immutable(cache):
        pytest.skip("chattr +i is not supported here")
    try:
        cfg = make_cfg(tmp_path, "loop.stages=[weaknesses]", "loop.max_generations=1")
        cfg.cache_dir = str(cache)
        run_loop(cfg, tmp_path / "run")
    finally:
        _mutable(cache)
    assert "is not writable" in capsys.readouterr().out
    assert not list(cache.iterdir())
    assert RunDir(tmp_path / "run").is_done(0, "seed") and (tmp_path / "run" / "gen_0" / "train" / "model" / "model.safetensors").is_file()


def test_a_nan_producing_recipe_fails_the_generation_and_saves_no_weights(tmp_path):
    cfg = make_cfg(tmp_path, "recipe.lr=1e6", "judge=length", FOUR, "loop.max_generations=3", "loop.patience=2")
    summary = run_loop(cfg, tmp_path / "run")
    gens = summary["generations"]
    assert [g["status"] for g in gens] == ["failed", "failed"]
    assert summary["stop_reason"].startswith("plateau: 2 generations")
    info = json.loads((tmp_path / "run" / "gen_1" / "train" / "train.json").read_text())
    assert info["failed"].startswith("non-finite loss") and 0 <= info["step"] < cfg.recipe.steps and info["recipe"]["lr"] == 1e6
    assert gens[0]["reason"] == f"train failed: {info['failed']}" and gens[0]["per_level_accuracy"] == {}
    assert not (tmp_path / "run" / "gen_1" / "train" / "model").exists() and not (tmp_path / "run" / "gen_1" / "verify").exists()


class KeepNothing(Judge):
    """Trusts no label, so every round comes out empty."""

    def keep(self, inp: JudgeInput) -> list[bool]:
        return [False] * len(inp.prompts)


def test_an_empty_round_that_is_all_of_each_batch_fails_the_generation_and_the_run_goes_on(tmp_path):
    cfg = make_cfg(tmp_path, FOUR, "judge=length", "judge._target_=tests.test_faults.KeepNothing", "plugins.allow=[tests]",
                   "recipe.new_share=1.0", "loop.max_generations=3", "loop.patience=2")
    summary = run_loop(cfg, tmp_path / "run")
    gens = summary["generations"]
    assert [g["status"] for g in gens] == ["failed", "failed"] and summary["stop_reason"].startswith("plateau: 2 generations")
    info = json.loads((tmp_path / "run" / "gen_1" / "train" / "train.json").read_text())
    assert info["failed"].startswith("nothing to train on") and "new_share 1; 0 new rows" in info["failed"] and info["step"] == 0
    assert not (tmp_path / "run" / "gen_1" / "train" / "model").exists() and not (tmp_path / "run" / "gen_1" / "verify").exists()


def test_pilots_with_nothing_to_train_on_are_skipped_and_said_so(tmp_path):
    # the whole loop: every candidate keeps new_share 1 (the tiny run proposes 'far', more steps), so each gives the
    # empty pilot round all of each batch
    cfg = make_cfg(tmp_path, "judge=length", "judge._target_=tests.test_faults.KeepNothing", "plugins.allow=[tests]",
                   "recipe.new_share=1.0", "loop.max_generations=1")
    summary = run_loop(cfg, tmp_path / "run")
    gen = tmp_path / "run" / "gen_1"
    experiment = json.loads((gen / "experiment" / "experiment.json").read_text())
    built = [b["id"] for b in json.loads((gen / "build" / "built.json").read_text())["built"]]
    assert "champion" in built and len(built) > 1
    assert sorted((s["id"], s["seed"]) for s in experiment["skipped"]) == sorted((c, s) for c in built for s in cfg.stage.experiment.seeds)
    assert experiment["pilots"] == [] and json.loads((gen / "interpret" / "interpretation.json").read_text())["ranked"] == []
    assert all(s["skipped"].startswith("nothing to train on") for s in experiment["skipped"])
    selected = json.loads((gen / "select" / "selected.json").read_text())
    assert selected["id"] == "champion" and selected["reason"].startswith("no pilot of the champion's recipe")
    assert summary["generations"][0]["status"] == "failed"  # and train, on the champion's recipe, has nothing either


def test_a_torn_run_config_is_named_as_such(run, tmp_path):
    saved = run / "run_config.yaml"
    saved.write_text(saved.read_text()[:300])
    with pytest.raises(ConfigError, match="run_config.yaml is truncated"):
        run_loop(make_cfg(tmp_path, *ARGS), run)
