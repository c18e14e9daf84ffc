"""The regimes' parts: verify stages that always promote or ask for a control, the presets, the report over seeds (the data policies: test_pools)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class
from omegaconf import OmegaConf

from pipeline.components.executors import cores
from pipeline.components.gate import Gate
from pipeline.core.rundir import LEDGER, RunDir, read_json, write_json
from pipeline.core.validate import validate
from pipeline.loop import run_loop, split_threads
from pipeline.stages.verify import AlwaysPromote, Verify
from pipeline.tools.regimes import BOOTSTRAP_FROM, band, bootstrap, regime_row, report, series
from tests.conftest import CONF, TINY_SIZES, make_cfg
from tests.test_gate import CHAMPION, correct_up_to, ladder

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("improve", "upper_bound", "plateau", "collapse", "no_humans")
#: what `make regimes` adds to every preset (the four-stage loop, fewer generations)
SWEEP = ("loop.stages=[weaknesses,curate,train,verify]", "loop.max_generations=3")


def test_always_promote_promotes_a_worse_successor_and_keeps_what_the_gate_measured():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    worse = correct_up_to(items, {**CHAMPION, 2: 0.5, 3: 0.4})  # forgets two mastered levels
    gate = Gate()
    verdict = AlwaysPromote(gate).decide(items, champion, worse, gate.level([]), {})
    refused = gate.decide(items, champion, worse, gate.level([]))
    assert not refused.promoted and verdict.promoted
    assert "rejected" in verdict.reason and refused.reason in verdict.reason
    assert verdict.successor_accuracy[2] == 0.5 and verdict.regressions == refused.regressions and set(verdict.regressions) >= {2, 3}
    assert verdict.successor_frontier < verdict.champion_frontier


def test_a_run_that_always_promotes_on_replaced_data_records_every_verdict_in_the_gates_schema(tmp_path):
    cfg = make_cfg(tmp_path, "judge=none", "stage/verify=always", "data=replace", "loop.stages=[weaknesses,curate,train,verify]",
                   "loop.max_generations=2")
    summary = run_loop(cfg, tmp_path / "run")
    run = tmp_path / "run"
    seed = read_json(run / "gen_0" / "verify" / "verdict.json")
    for g in (1, 2):
        verdict = read_json(run / f"gen_{g}" / "verify" / "verdict.json")
        assert verdict["promoted"] and verdict["reason"].startswith("always promoted") and set(verdict) == set(seed)
        assert len(verdict["successor_correct"]) == len(seed["successor_correct"])
        ledger = read_json(run / f"gen_{g}" / "verify" / LEDGER)
        assert sum(ledger["measured"].values()) > 0 and not ledger["decided"]  # the test ladder decided nothing
    assert [g["promoted"] for g in summary["generations"]] == [True, True] and all(g["per_level_accuracy"] for g in summary["generations"])
    assert summary["seed_true_frontier"] == read_json(run / "gen_0" / "audit" / "audit.json")["successor_frontier"]  # what regimes.py plots at gen 0
    # generation 2 trained on generation 1's round and its own, the seed's data replaced
    earlier = read_json(run / "gen_2" / "train" / "train.json")["train_examples"]["earlier"]
    assert earlier == read_json(run / "gen_1" / "curate" / "curation.json")["kept"] != read_json(run / "gen_1" / "train" / "train.json")["train_examples"]["earlier"]


def test_the_controlled_gate_does_not_take_more_training_on_earlier_data_for_the_rounds_gain(tmp_path):
    # a judge that keeps nothing: the successor trains on the earlier data alone, exactly as its control does (same start,
    # same seed, every step of the recipe: stage/train=finetune); a seed of 100 steps still gains from that, and 600 more
    # steps win significantly on levels 1 and 2
    args = (SWEEP[0], "judge=length", "judge._target_=tests.test_faults.KeepNothing", "plugins.allow=[tests]", "loop.max_generations=1",
            "stage/train=finetune",
            "seed_model.max_steps=100", "seed_model.lr=3e-3", "recipe.steps=600", "recipe.lr=3e-3", "stage.verify.gate.window=2")
    plain = run_loop(make_cfg(tmp_path / "plain", *args), tmp_path / "plain" / "run")
    controlled = run_loop(make_cfg(tmp_path / "controlled", *args, "stage/verify=controlled"), tmp_path / "controlled" / "run")
    assert plain["generations"][0]["status"] == "promoted"  # the plain gate takes the extra training for a gain
    assert controlled["generations"][0]["status"] == "rejected"
    first = read_json(tmp_path / "plain" / "run" / "gen_1" / "verify" / "verdict.json")
    verdict = read_json(tmp_path / "controlled" / "run" / "gen_1" / "verify" / "verdict.json")
    assert verdict["successor_correct"] == first["successor_correct"] and verdict["wins"] == first["wins"] > 0  # the same successor
    assert verdict["control"]["correct"] == verdict["successor_correct"] and verdict["control"]["wins"] == verdict["control"]["losses"] == 0
    assert "but not than the same training on the earlier data alone" in verdict["reason"]
    audits = [read_json(tmp_path / run / "run" / "gen_1" / "audit" / "audit.json")["outcome"] for run in ("plain", "controlled")]
    assert audits == ["correct promotion", "correct rejection"]  # truth agrees with each gate's own question


@pytest.mark.parametrize("preset", PRESETS)
def test_every_regime_preset_composes_and_validates_alone_and_as_make_regimes_runs_it(tmp_path, preset):
    cfg = make_cfg(tmp_path, f"experiment={preset}", experiment=None)
    validate(cfg)
    validate(make_cfg(tmp_path, f"experiment={preset}", *SWEEP, experiment=None))
    assert cfg.name == preset  # runs are grouped by name, and make regimes names their folders by it


def test_the_regimes_differ_in_their_safeguards_only(tmp_path):
    default = OmegaConf.to_container(make_cfg(tmp_path, experiment=None), resolve=True)
    cfgs = {p: make_cfg(tmp_path, f"experiment={p}", experiment=None) for p in PRESETS}
    assert {**OmegaConf.to_container(cfgs["improve"], resolve=True), "name": default["name"]} == default  # today's default
    judge = {p: get_class(c.judge._target_) for p, c in cfgs.items()}
    verify = {p: get_class(c.stage.verify._target_) for p, c in cfgs.items()}
    assert judge["upper_bound"].reads_ground_truth and not judge["plateau"].reads_ground_truth and not judge["collapse"].reads_ground_truth
    assert verify["plateau"] is Verify and verify["collapse"] is AlwaysPromote  # the plateau's gate is on, the collapse has none
    assert cfgs["collapse"].data._target_.endswith("Replace") and cfgs["plateau"].data._target_ == default["data"]["_target_"] != "pipeline.core.pools.Replace"
    assert cfgs["plateau"].stage.review.sample_size == cfgs["collapse"].stage.review.sample_size == 0  # no label audit: the gate is tested
    labeler = {p: c.labeler._target_.rsplit(".", 1)[-1] for p, c in cfgs.items()}
    assert labeler["plateau"] == labeler["collapse"] == "Greedy" != labeler["improve"]  # the champion's own answers, unrepaired
    assert cfgs["plateau"].round.ahead == cfgs["improve"].round.ahead  # the default round, past what it answers
    assert max(cfgs["collapse"].round.ahead) < min(cfgs["improve"].round.ahead)  # where sampled answers are partly right
    assert cfgs["collapse"].recipe.temperature > cfgs["improve"].recipe.temperature == 0.0  # sampled labels, errors added each round
    assert cfgs["collapse"].recipe.new_share == 1.0 > cfgs["improve"].recipe.new_share  # each successor learns the latest round alone
    assert cfgs["no_humans"].humans.mode == "none" and cfgs["no_humans"].judge._target_ == cfgs["improve"].judge._target_


def fake_run(folder, name: str, seed: int, gens: list[tuple[bool, int, dict[int, float]]], seed_acc: dict[int, float],
             finished: bool = True, true_frontiers: list[int] | None = None, audits: list[str] | None = None) -> None:
    """A run folder as the loop leaves it: run_config.yaml and a summary.json with one record per generation
    (promoted, the loop's frontier, the successor's true accuracy per level, the shadow audit's outcome)."""
    folder.mkdir(parents=True)
    (folder / "run_config.yaml").write_text(OmegaConf.to_yaml({"name": name, "seed": seed}))
    outcomes = audits or [("correct promotion" if promoted else "correct rejection") for promoted, _, _ in gens]
    records = [{"generation": i + 1, "promoted": promoted, "status": "promoted" if promoted else "rejected", "frontier": front, "per_level_accuracy": acc,
                "true_frontier": None if true_frontiers is None else true_frontiers[i], "audit": outcomes[i]}
               for i, (promoted, front, acc) in enumerate(gens)]
    write_json(folder / "summary.json", {"seed_frontier": 5, "seed_true_frontier": 5, "seed_levels": 5, "seed_per_level_accuracy": seed_acc,
                                         "stop_reason": "max_generations reached" if finished else None, "generations": records})


SEED_ACC = {5: 1.0, 6: 0.5}


def collapsing(folder, seed: int) -> None:
    """Always promoted, level 5 falls a little more on every seed."""
    fake_run(folder, "collapse", seed, [(True, 5, {5: 0.8 - 0.05 * seed, 6: 0.3}), (True, 4, {5: 0.5 - 0.1 * seed, 6: 0.1})], SEED_ACC)


def test_the_table_reports_a_falling_mastered_level_and_a_rising_frontier_with_n_and_the_min_max_over_seeds(tmp_path):
    audits = [["correct promotion", "false rejection"], ["false promotion", "correct promotion"], ["correct promotion", "correct promotion"]]
    for seed in range(3):
        collapsing(tmp_path / f"collapse-seed{seed}", seed)
        fake_run(tmp_path / f"improve-seed{seed}", "improve", seed,
                 [(True, 6, {5: 1.0, 6: 0.95}), (True, 6 + seed % 2, {5: 1.0, 6: 0.97, 7: 0.9 if seed % 2 else 0.5})], SEED_ACC, audits=audits[seed])
    groups = report(tmp_path)
    assert list(groups) == ["improve", "collapse"] and (tmp_path / "regimes.png").stat().st_size > 0
    improve, collapse = regime_row(groups["improve"]), regime_row(groups["collapse"])
    assert improve["final_frontier"] == pytest.approx(((6 + 7 + 6) / 3, 6, 7))  # three seeds: the mean and the min-max, no bootstrap
    assert improve["promotions"] == [2, 2, 2] and improve["mastered_trend"] == "holds" and improve["fell"] == 0
    assert improve["disagreed"] == [1, 1, 0] and improve["decisions"] == [2, 2, 2]
    assert collapse["mastered_trend"] == "falls" and collapse["fell"] == 3 and collapse["mastered_change"] == pytest.approx((-0.6, -0.7, -0.5))
    assert collapse["mastered_end"] == pytest.approx((0.5 + 0.4 + 0.3) / 3) and collapse["mastered_seed"] == 1.0
    text = (tmp_path / "regimes.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| collapse |"))
    assert row.startswith("| collapse | 3 | 0, 1, 2 (3/3) |") and "falls" in row and "| 2.0 (2, 2, 2) | 0, 0, 0 | 0/2, 0/2, 0/2 |" in row
    assert "-0.60 [-0.70, -0.50] (min-max)" in row
    assert "| 1/2, 1/2, 0/2 |" in next(line for line in text.splitlines() if line.startswith("| improve |"))
    assert "N seeds per regime: improve 3, collapse 3" in text and "95% CI" not in text.split("|---")[1]


def test_a_change_some_seeds_do_not_share_holds_below_ten_seeds_and_the_bootstrap_starts_at_ten(tmp_path):
    for seed in range(3):  # two seeds fall, one rises: not every seed fell
        fake_run(tmp_path / "few" / f"s{seed}", "plateau", seed, [(True, 5, {5: 0.7 if seed < 2 else 1.0, 6: 0.5})], {5: 0.9, 6: 0.5})
    (few,) = report(tmp_path / "few").values()
    assert regime_row(few)["mastered_trend"] == "holds"
    for seed in range(BOOTSTRAP_FROM):
        fake_run(tmp_path / "many" / f"s{seed}", "improve", seed, [(True, 5 + seed % 3, {5: 1.0, 6: 0.5})], SEED_ACC)
    (many,) = report(tmp_path / "many").values()
    mean, low, high = regime_row(many)["final_frontier"]
    assert 5 < low < mean < high < 7  # a bootstrap interval of the mean, inside the min-max
    assert "(95% CI)" in (tmp_path / "many" / "regimes.md").read_text()


def test_the_figures_band_runs_from_the_lowest_seed_to_the_highest():
    gens, mean, low, high = band([[1.0, 2.0, 6.0], [3.0, 4.0], [2.0]])
    assert gens == [0, 1, 2] and low == [1.0, 2.0, 6.0] and high == [3.0, 4.0, 6.0] and mean == pytest.approx([2.0, 3.0, 6.0])


def test_a_rejected_successor_leaves_the_champions_accuracy_and_the_audits_frontier_is_preferred(tmp_path):
    # the label-free gate thought the frontier 8; the shadow audit found 5; the rejected successor had forgotten level 5
    fake_run(tmp_path / "a", "plateau", 0, [(True, 8, {5: 1.0, 6: 0.6}), (False, 8, {5: 0.0, 6: 0.0})], SEED_ACC, true_frontiers=[5, 5])
    (run,) = report(tmp_path)["plateau"]
    assert run.frontier == [5, 5, 5] and run.mastered == [1.0, 1.0, 1.0] and run.past == [0.5, 0.6, 0.6] and run.promotions == run.rejections == 1


def test_forgetting_the_shortest_levels_counts_as_a_fall_while_the_seeds_top_level_holds(tmp_path):
    # replaced data holds only the frontier's levels: the model forgets 1-digit sums first (seeds 1 and 2 on 2026-12-02)
    fake_run(tmp_path / "c", "collapse", 0, [(True, 5, {1: 0.9, 2: 1.0, 5: 1.0, 6: 0.4}), (True, 1, {1: 0.6, 2: 0.85, 5: 1.0, 6: 0.3})],
             {1: 1.0, 2: 1.0, 5: 1.0, 6: 0.5})
    (run,) = report(tmp_path)["collapse"]
    assert run.mastered == [1.0, 0.9, 0.6] and run.past == [0.5, 0.4, 0.3]  # level 6, past the seed's, is not a mastered level
    assert regime_row([run])["fell"] == 1 and "levels 1..5: 1.00 -> 0.60" in (tmp_path / "regimes.md").read_text()


def test_a_partly_finished_sweep_is_reported_as_far_as_it_got(tmp_path):
    fake_run(tmp_path / "short", "improve", 0, [(False, 5, {5: 1.0})], SEED_ACC)  # stopped early (patience): its champion stays
    fake_run(tmp_path / "long", "improve", 1, [(True, 6, {5: 1.0, 6: 0.9})] * 3, SEED_ACC)
    fake_run(tmp_path / "running", "improve", 2, [(True, 6, {5: 1.0, 6: 0.9})], SEED_ACC, finished=False)
    (tmp_path / "waiting").mkdir()
    (tmp_path / "waiting" / "run_config.yaml").write_text(OmegaConf.to_yaml({"name": "improve", "seed": 3}))
    groups = report(tmp_path)
    lengths = {r.folder.name: len(s) for r, s in zip(groups["improve"], series(groups["improve"], "frontier", 5))}
    assert lengths == {"short": 5, "long": 5, "running": 2}
    text = (tmp_path / "regimes.md").read_text()
    assert "Not finished: running; no generation yet: waiting" in text and "| 0, 1, 2 (2/3) |" in text


def test_the_bootstrap_interval_of_equal_values_is_that_value_and_widens_with_spread():
    assert bootstrap([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))
    mean, low, high = bootstrap([0.0, 0.5, 1.0])
    assert mean == pytest.approx(0.5) and 0.0 <= low < mean < high <= 1.0


def test_the_command_line_rebuilds_the_report_and_refuses_an_empty_folder(tmp_path):
    collapsing(tmp_path / "sweep" / "collapse-seed0", 0)
    ok = subprocess.run([sys.executable, "-m", "pipeline.tools.regimes", str(tmp_path / "sweep")], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "sweep" / "regimes.md").is_file() and "| collapse |" in ok.stdout
    (tmp_path / "empty").mkdir()
    empty = subprocess.run([sys.executable, "-m", "pipeline.tools.regimes", str(tmp_path / "empty")], cwd=ROOT, capture_output=True, text=True)
    assert empty.returncode == 2 and empty.stderr.startswith("error: no run with a summary.json")


#: the tiny preset's sizes as overrides (a regime preset is the sweep's experiment), a cache of the test's own
TINY = ("logger=none", *TINY_SIZES, "loop.max_generations=2", "'loop.stages=[weaknesses,curate,train,verify]'")


def _make_regimes(sweep: Path, *variables: str) -> subprocess.CompletedProcess:
    """`make regimes` in this test's virtual environment (READY= skips the set-up: the tests already run in it)."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "regimes", f"VENV={venv}", "READY=", f"RUN={sweep}", *variables], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)  # a sweep that ignored the tiny sizes would run for hours


def _started(run: Path, since: int) -> list[tuple[int, str]]:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()][since:]
    return [(e["gen"], e["stage"]) for e in events if e["event"] == "stage_start"]


@pytest.mark.slow
def test_make_regimes_runs_each_regime_and_seed_in_its_own_folder_and_resumes_only_what_is_unfinished(tmp_path):
    sweep = tmp_path / "sweep"
    first = _make_regimes(sweep, "REGIMES=upper_bound,collapse", "SEEDS=0,1", f"REGIMES_ARGS={' '.join(TINY)} cache_dir={tmp_path / 'cache'}")
    assert first.returncode == 0, first.stderr[-2000:]
    runs = {f"{regime}-seed{seed}": sweep / f"{regime}-seed{seed}" for regime in ("upper_bound", "collapse") for seed in (0, 1)}
    assert all((run / "summary.json").is_file() for run in runs.values())
    assert (sweep / "regimes.md").is_file() and (sweep / "regimes.png").is_file() and "N seeds per regime: upper_bound 2, collapse 2" in first.stdout
    # one seed model per seed, trained by one regime and reused by the other
    assert len([p for p in (tmp_path / "cache").glob("seed-*") if p.is_dir()]) == 2
    assert sorted(RunDir(run).done_summary(0, "seed")["reused"] for run in runs.values()) == [False, False, True, True]
    # a sweep killed in generation 2 of one run: the same command with RUN= finishes that run alone, from where it stopped
    killed = runs["collapse-seed1"]
    shutil.rmtree(killed / "gen_2" / "verify")
    shutil.rmtree(killed / "gen_2" / "audit")
    (killed / "summary.json").unlink()
    (sweep / "regimes.md").unlink()
    before = {name: len((run / "events.jsonl").read_text().splitlines()) for name, run in runs.items()}
    again = _make_regimes(sweep)  # no variables: the sweep's own overrides come from its multirun.yaml
    assert again.returncode == 0, again.stderr[-2000:]
    assert {name: _started(run, before[name]) for name, run in runs.items()} == {
        "upper_bound-seed0": [], "upper_bound-seed1": [], "collapse-seed0": [], "collapse-seed1": [(2, "verify"), (2, "audit")]}
    assert (killed / "summary.json").is_file() and (sweep / "regimes.md").is_file()


@pytest.mark.parametrize("launcher, target", [("joblib", "JoblibLauncher"), ("submitit_slurm", "SlurmLauncher"), ("submitit_local", "LocalLauncher")])
def test_a_sweep_goes_to_another_launcher_with_one_override(launcher, target):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}", "experiment=collapse"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_.endswith(target) and cfg.name == "collapse"


@pytest.mark.parametrize("n_jobs, side_by_side", [(1, 1), (2, 2), (-1, None)])
def test_runs_side_by_side_under_joblib_share_the_cores(n_jobs, side_by_side):
    before = torch.get_num_threads()
    try:
        split_threads(OmegaConf.create({"n_jobs": n_jobs}))
        assert torch.get_num_threads() == max(1, cores() // (side_by_side or cores()))  # -1: a run per core, one thread each
        torch.set_num_threads(before)
        split_threads(OmegaConf.create({"submitit_folder": "x"}))  # a launcher that runs nothing side by side here
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_a_sweep_through_the_submitit_launcher_runs_every_job(tmp_path):
    done = _make_regimes(tmp_path / "sweep", "REGIMES=collapse", "SEEDS=0,1", f"REGIMES_ARGS={' '.join(TINY)} cache_dir={tmp_path / 'cache'}",
                         "ARGS=hydra/launcher=submitit_local")
    assert done.returncode == 0, done.stderr[-2000:]
    assert all((tmp_path / "sweep" / f"collapse-seed{seed}" / "summary.json").is_file() for seed in (0, 1))
    assert "| collapse | 2 | 0, 1 (2/2) |" in (tmp_path / "sweep" / "regimes.md").read_text()


def test_regimes_on_the_same_values_are_told_apart_and_a_cap_is_drawn(tmp_path, monkeypatch):
    """Two plateaus on the same frontier: each regime's line has its own marker and a sideways shift; a run with a cap
    (eval.max_level) gets the ladder's top drawn on the frontier panel."""
    from pipeline.tools import regimes
    for i, name in enumerate(("plateau", "improve")):
        fake_run(tmp_path / name, name, 0, [(False, 5, {5: 1.0, 6: 0.5})] * 2, SEED_ACC)
        if i == 0:
            (tmp_path / name / "run_config.yaml").write_text(OmegaConf.to_yaml({"name": name, "seed": 0, "eval": {"max_level": 12}}))
    drawn = []
    real = regimes.plt.Axes.plot

    def spy(self, x, y, *args, **kwargs):
        drawn.append((kwargs.get("label"), kwargs.get("marker"), list(x)))
        return real(self, x, y, *args, **kwargs)
    monkeypatch.setattr(regimes.plt.Axes, "plot", spy)
    lines = []
    real_h = regimes.plt.Axes.axhline
    monkeypatch.setattr(regimes.plt.Axes, "axhline", lambda self, y, **kw: lines.append((y, kw.get("label"))) or real_h(self, y, **kw))
    groups = regimes.report(tmp_path)
    assert [r.cap for r in groups["plateau"]] == [12] and [r.cap for r in groups["improve"]] == [None]
    means = {label: (marker, x) for label, marker, x in drawn if label}
    (m1, x1), (m2, x2) = means["improve (N=1)"], means["plateau (N=1)"]
    assert m1 != m2 and x1 != x2  # same values, told apart by marker and position
    assert (12, "the ladder's cap (12)") in lines
