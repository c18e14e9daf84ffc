"""The loop's contract: stages from config, resume at the first unfinished stage, clear errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from pipeline.core.rundir import RunDir
from pipeline.loop import ConfigError, _print_generation, check_resume, run_loop, stop
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


def test_resume_takes_keys_added_since_the_run_started_and_refuses_a_changed_one(tmp_path):
    cfg = make_cfg(tmp_path)
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    older = OmegaConf.to_container(cfg, resolve=True)
    del older["data"]  # a run started before the `data` group existed
    (run.root / "run_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(older)))
    assert check_resume(cfg, run) is True
    assert [e["keys"] for e in run.events() if e["event"] == "config_keys_added"] == [{"data._target_": "pipeline.core.pools.Balanced"}]
    assert OmegaConf.create((run.root / "run_config.yaml").read_text()).data == cfg.data  # the next resume compares against this
    older["data"] = {"_target_": "pipeline.core.pools.Replace"}  # a key the run had, with another value: refused as before
    (run.root / "run_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(older)))
    with pytest.raises(ConfigError, match="differs at: data._target_"):
        check_resume(cfg, run)


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
    _rewrite_seed_verdict(run, successor_correct="1" * len(recorded["successor_correct"]))
    n_before = len(_events(run))
    run_loop(cfg, run)
    rerun = [e["stage"] for e in _events(run)[n_before:] if e["event"] == "stage_start"]
    assert rerun == ["verify"]
    # the levels the seed's ladder held are its recorded answers; the climb goes past them now that they pass (evaluated there)
    reread = json.loads((run / "gen_1" / "verify" / "verdict.json").read_text())["champion_accuracy"]
    assert {reread[lv] for lv in recorded["items"]} == {1.0} and len(reread) > len(recorded["items"])
    # answers recorded in another dtype (a GPU in bf16) are not reused on this CPU: the champion is evaluated again
    assert recorded["device"] == "cpu" and recorded["dtype"] == "float32"
    _rewrite_seed_verdict(run, device="cuda", dtype="bfloat16")
    (run / "gen_1" / "verify" / "DONE.json").unlink()
    run_loop(cfg, run)
    again = json.loads((run / "gen_1" / "verify" / "verdict.json").read_text())["champion_accuracy"]
    assert again == {k: v for k, v in recorded["successor_accuracy"].items()}


def _rewrite_seed_verdict(run: Path, **fields) -> None:
    """Change the seed's recorded verdict as if it had been computed so (its done marker re-hashed to match)."""
    path = run / "gen_0" / "verify" / "verdict.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
    rd = RunDir(run)
    rd.mark_done(0, "seed", rd.done_summary(0, "seed"), [rd.stage_dir(0, s) for s in ("train", "curate", "verify")])


@pytest.mark.parametrize("stop", [False, True])
def test_a_review_block_skips_training_and_the_loop_goes_on_or_stops_as_configured(tmp_path, stop, capsys):
    # no judge: every label of a tiny model is kept, most of them wrong; the review's audit catches them
    cfg = make_cfg(tmp_path, "judge=none", "loop.max_generations=2", "loop.patience=5", f"loop.stop_on_block={str(stop).lower()}")
    summary = run_loop(cfg, tmp_path / "run")
    gens = summary["generations"]
    assert len(gens) == (1 if stop else 2)
    assert all(g["blocked"] and not g["promoted"] and g["reason"].startswith("blocked by review: label error") for g in gens)
    # no successor was trained: nothing pretends it scored zero
    assert all(g["status"] == "blocked" and g["per_level_accuracy"] == {} and g["p_value"] is None for g in gens)
    assert "| blocked |" in (tmp_path / "run" / "report.md").read_text()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("gen 1 frontier")]
    assert len(lines) == 1 and "BLOCKED" in lines[0] and "acc@" not in lines[0] and "no successor" in lines[0]
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


def test_a_round_with_no_new_label_is_shown_as_empty(tmp_path, capsys):
    cfg = make_cfg(tmp_path, "judge=consistency", "judge.min_confidence=1.0", "loop.max_generations=1", "proposer=fixed",
                   "loop.stages=[weaknesses,curate,train,verify]")  # a judge no label can satisfy
    summary = run_loop(cfg, tmp_path / "run")
    (gen,) = summary["generations"]
    assert gen["new_data"] == 0 and gen["empty_round"] and gen["status"] in ("promoted", "rejected")
    assert "0 new labels" in capsys.readouterr().out.split("gen 1 frontier")[1]
    assert f"| 1 | {gen['frontier']} | {gen['true_frontier']} | {gen['status']} (empty round) |" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.slow
def test_a_run_killed_three_times_ends_with_an_uninterrupted_runs_results(tmp_path):
    """SIGKILL the real command at random moments (the seed, stages, writes), resume it each time:
    no finished stage runs twice and summary.json's results equal an uninterrupted run's
    (scripts/kill_sweep.py; docs/run-folder.md's 20-kill measurement is the same script)."""
    cmd = [sys.executable, "scripts/kill_sweep.py", "--kills", "3", "--max-delay", "8", "--out", str(tmp_path),
           "seed_model.max_steps=100", "recipe.steps=30", "loop.max_generations=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("kill ") >= 3 and "ran twice: none" in proc.stdout and "uninterrupted run's: True" in proc.stdout


def test_the_loop_stops_at_the_top_of_the_ladder_and_not_below(tmp_path):
    """A champion at eval.max_level leaves the gate no test item to win on: the next generation could only be rejected."""
    cfg = make_cfg(tmp_path, "eval.max_level=10", "loop.max_generations=8")
    gen = {"generation": 2, "promoted": True, "blocked": False}
    assert stop([gen], cfg, 10).reason.startswith("the top of the ladder: frontier 10")
    assert stop([gen], cfg, 9) is None
    assert stop([], cfg, 10).reason.startswith("the top of the ladder")  # a seed that already masters the whole ladder


def test_the_generation_line_shows_no_accuracy_for_a_level_past_the_ladder(capsys):
    """At the top of the ladder there is no test item one level up: its accuracy is not a 0.00."""
    rec = {"generation": 3, "frontier": 12, "true_frontier": 12, "approvals": [], "status": "promoted", "promoted": True,
           "per_level_accuracy": {11: 1.0, 12: 0.99}, "empty_round": False, "p_value": 1e-9, "judge_precision": 1.0,
           "audit": "correct promotion", "new_data": 8000, "judge_yield": 0.98, "labels_decided": 11522}
    _print_generation(rec, 90.0)
    line = capsys.readouterr().out
    assert "true acc@12 0.99 |" in line and "acc@13" not in line
    _print_generation({**rec, "frontier": 11, "true_frontier": 11}, 90.0)
    assert "true acc@11 1.00 acc@12 0.99 |" in capsys.readouterr().out


def test_every_stop_rule_names_its_key_and_the_wall_time_budget_counts_the_next_generation(tmp_path):
    cfg = make_cfg(tmp_path, "eval.max_level=null", "loop.max_generations=8", "loop.patience=3", "loop.max_minutes=10")
    gen = lambda g, promoted=True, seconds=60.0: {"generation": g, "promoted": promoted, "blocked": False, "seconds": seconds}  # noqa: E731
    assert stop([gen(1)], cfg, 40, elapsed=300) is None  # no cap: frontier 40 goes on; 5 + 1 of 10 minutes
    spent = stop([gen(1)], cfg, 9, elapsed=600)
    assert spent.rule == "loop.max_minutes" and "budget spent: 10.0 of 10 minutes" in spent.reason
    ahead = stop([gen(1, seconds=120.0)], cfg, 9, elapsed=500)  # 500 s + a 120 s generation > 600 s
    assert ahead.rule == "loop.max_minutes" and "would end past it" in ahead.reason
    assert stop([], cfg, 9, elapsed=599) is None  # no generation yet to take the pace from
    assert stop([gen(g, promoted=False) for g in (1, 2, 3)], cfg, 9).rule == "loop.patience"
    assert stop([gen(g) for g in range(1, 9)], cfg, 9).rule == "loop.max_generations"
    capped = make_cfg(tmp_path, "eval.max_level=12")
    assert stop([gen(1)], capped, 12).rule == "eval.max_level" and stop([gen(1)], capped, 11, elapsed=10**6) is None  # no budget set


def test_a_spent_wall_time_budget_stops_the_loop_and_says_so_in_the_summary_the_report_and_the_last_line(tmp_path, capsys):
    cfg = make_cfg(tmp_path, "loop.max_minutes=0.001", "loop.stages=[weaknesses,curate,train,verify]")  # 0.06 s: the seed spends it
    summary = run_loop(cfg, tmp_path / "run")
    assert summary["stop_rule"] == "loop.max_minutes" and summary["stop_reason"].startswith("wall-time budget spent")
    assert summary["generations"] == []
    assert "Stopped by `loop.max_minutes`: wall-time budget spent" in (tmp_path / "run" / "report.md").read_text()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("stopped by loop.max_minutes: wall-time budget spent")
