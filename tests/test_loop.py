"""The loop's contract: stages from config, resume at the first unfinished stage, clear errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from pipeline.loop import ConfigError, run_loop
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_stage_is_a_clear_error(tmp_path):
    cfg = make_cfg(tmp_path, "loop.stages=[weaknesses,curate,polish]")
    with pytest.raises(ConfigError, match="unknown stage 'polish'.*known stages: build, curate, experiment, interpret, propose, review, select, train, verify, weaknesses"):
        run_loop(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unknown_judge_and_malformed_override_are_refused_by_hydra(tmp_path):
    with pytest.raises(ConfigCompositionException, match="judge"):
        make_cfg(tmp_path, "judge=telepathy")
    with pytest.raises(Exception, match="(?i)override|parse|mismatched"):
        make_cfg(tmp_path, "loop.max_generations=[3")


def test_resume_with_a_different_config_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = make_cfg(tmp_path)
    (run / "run_config.yaml").write_text("seed: 999\n")
    with pytest.raises(ConfigError, match="different config"):
        run_loop(cfg, run)


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_tiny_loop_writes_every_stage_and_resumes_without_redoing_work(tmp_path):
    cfg = make_cfg(tmp_path, "judge=length", "loop.max_generations=1", "stage.review.max_label_error=1.0")  # tiny labels are bad: let them through
    run = tmp_path / "run"
    summary = run_loop(cfg, run)
    outputs = {"weaknesses": ["weaknesses.json"], "propose": ["candidates.json"], "build": ["built.json"],
               "experiment": ["experiment.json", "pilots"], "interpret": ["interpretation.json"], "select": ["selected.json"],
               "curate": ["curation.json", "data", "judged"], "review": ["review.json"],
               "train": ["train.json", "model/model.safetensors"], "verify": ["verdict.json"]}
    assert list(outputs) == list(cfg.loop.stages)  # the default chain is all ten stages, in the article's order
    for stage, files in outputs.items():
        for name in files:
            assert (run / "gen_1" / stage / name).exists(), (stage, name)
        assert (run / "gen_1" / stage / "DONE.json").is_file()
    assert (run / "report.md").is_file() and (run / "accuracy.png").is_file() and (run / "metrics.jsonl").is_file()
    assert set(summary) >= {"seed_frontier", "stop_reason", "wall_seconds", "judge", "generations"}
    gen = summary["generations"][0]
    assert set(gen) >= {"generation", "frontier", "promoted", "p_value", "judge_precision", "judge_yield", "per_level_accuracy"}
    assert gen["selected"]["id"] and set(gen["selected"]["recipe"]) >= {"steps", "lr", "new_share", "warm_start"}
    assert min(gen["compute"]["flops"][s] for s in ("build", "experiment", "train")) > 0 and gen["compute"]["seconds"]["review"] >= 0
    assert summary["stop_reason"].startswith("max_generations")
    # a killed run left gen 1's verify unfinished: only verify runs again
    (run / "gen_1" / "verify" / "DONE.json").unlink()
    # and it compares against the champion's recorded answers, not a second evaluation of it
    seed_verdict = run / "gen_0" / "verify" / "verdict.json"
    recorded = json.loads(seed_verdict.read_text())
    assert set(recorded["successor_correct"]) <= {"0", "1"} and "0" in recorded["successor_correct"]
    seed_verdict.write_text(json.dumps({**recorded, "successor_correct": "1" * len(recorded["successor_correct"])}))
    n_before = len(_events(run))
    run_loop(cfg, run)
    rerun = [e["stage"] for e in _events(run)[n_before:] if e["event"] == "stage_start"]
    assert rerun == ["verify"]
    assert set(json.loads((run / "gen_1" / "verify" / "verdict.json").read_text())["champion_accuracy"].values()) == {1.0}


@pytest.mark.parametrize("stop", [False, True])
def test_a_review_block_skips_training_and_the_loop_goes_on_or_stops_as_configured(tmp_path, stop):
    # the length judge keeps a tiny model's wrong labels; the audit catches them
    cfg = make_cfg(tmp_path, "judge=length", "loop.max_generations=2", "loop.patience=5", f"loop.stop_on_block={str(stop).lower()}")
    summary = run_loop(cfg, tmp_path / "run")
    gens = summary["generations"]
    assert len(gens) == (1 if stop else 2)
    assert all(g["blocked"] and not g["promoted"] and g["reason"].startswith("blocked by review: label error") for g in gens)
    assert not (tmp_path / "run" / "gen_1" / "train").exists() and not (tmp_path / "run" / "gen_1" / "verify").exists()
    assert summary["stop_reason"].startswith("blocked by review" if stop else "max_generations")


def test_swapping_the_judge_and_stages_with_one_override_each(tmp_path):
    cfg = make_cfg(tmp_path, "judge=oracle", "loop.max_generations=1", "proposer=fixed", "stage/review=checks_only")
    run_loop(cfg, tmp_path / "run")
    gen = tmp_path / "run" / "gen_1"
    curation = json.loads((gen / "curate" / "curation.json").read_text())
    assert curation["judge"] == "OracleJudge" and curation["judge_reads_ground_truth"]
    assert curation["kept"] == 0 or curation["judge_precision"] == 1.0
    candidates = json.loads((gen / "propose" / "candidates.json").read_text())["candidates"]
    assert [c["id"] for c in candidates] == ["champion"]  # the fixed proposer: the champion's recipe only
    assert json.loads((gen / "review" / "review.json").read_text())["audit"] is None  # checks_only reads no ground truth


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(tmp_path):
    """SIGKILL the real command in the middle of generation 1, run it again, and it finishes
    without redoing any stage that had finished."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "pipeline.loop", "experiment=tiny", "logger=none", "recipe.steps=200",
           f"hydra.run.dir={run}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        events = _events(run) if (run / "events.jsonl").exists() else []
        if any(e["event"] == "stage_start" and e["stage"] == "train" and e["gen"] == 1 for e in events):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "gen_1" / "train" / "DONE.json").exists(), "the run finished before it could be killed"
    finished_before = {(e["gen"], e["stage"]) for e in _events(run) if e["event"] == "stage_finish"}
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    events = _events(run)
    restarted = [(e["gen"], e["stage"]) for e in events if e["event"] == "stage_start"]
    assert all(restarted.count(key) == 1 for key in finished_before), "a finished stage ran twice"
    assert restarted.count((1, "train")) == 2
    assert events[-1]["event"] == "run_end"
    assert json.loads((run / "summary.json").read_text())["stop_reason"]
