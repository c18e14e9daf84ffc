"""The regimes' parts: a verify stage that always promotes, replace vs accumulate, the presets, the report over seeds."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from pipeline.context import Context
from pipeline.data import save_rows
from pipeline.gate import Gate
from pipeline.logger import NoLogger
from pipeline.loop import run_loop
from pipeline.rundir import LEDGER, RunDir, read_json, write_json
from pipeline.stages.verify import AlwaysPromote, Verify
from pipeline.validate import validate
from tests.conftest import make_cfg
from tests.test_gate import CHAMPION, correct_up_to, ladder

PRESETS = ("improve", "upper_bound", "plateau", "collapse", "no_humans")
#: what `make regimes` adds to every preset (the four-stage loop, fewer generations)
SWEEP = ("loop.stages=[weaknesses,curate,train,verify]", "loop.max_generations=6")


def test_always_promote_promotes_a_worse_successor_and_keeps_what_the_gate_measured():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    worse = correct_up_to(items, {**CHAMPION, 2: 0.5, 3: 0.4})  # forgets two mastered levels
    gate = Gate()
    verdict = AlwaysPromote(gate).decide(items, champion, worse)
    refused = gate.decide(items, champion, worse)
    assert not refused.promoted and verdict.promoted
    assert "rejected" in verdict.reason and refused.reason in verdict.reason
    assert verdict.successor_accuracy[2] == 0.5 and verdict.regressions == refused.regressions and set(verdict.regressions) >= {2, 3}
    assert verdict.successor_frontier < verdict.champion_frontier


def _run_with_rounds(tmp_path, data: str, gen: int) -> Context:
    """Generation `gen` of a run whose generations 1..3 were promoted, rejected and promoted on an empty round."""
    run = RunDir(tmp_path / "run")
    for g, (promoted, n) in enumerate([(True, 5), (True, 3), (False, 4), (True, 0)]):
        save_rows({"prompt": [f"{g}+{i}=" for i in range(n)], "answer": ["0"] * n, "level": [1] * n}, run.stage_dir(g, "curate") / "data")
        write_json(run.stage_dir(g, "verify") / "verdict.json", {"promoted": promoted})
    return Context.build(make_cfg(tmp_path, f"data={data}"), run, torch.device("cpu"), NoLogger(), gen=gen)


def test_accumulate_keeps_the_seed_and_every_promoted_round_oldest_first(tmp_path):
    ctx = _run_with_rounds(tmp_path, "accumulate", gen=4)
    assert ctx.pool_paths() == [ctx.run.stage_dir(g, "curate") / "data" for g in (0, 1, 3)]
    assert len(ctx.pool()) == 5 + 3


def test_replace_keeps_only_the_latest_promoted_round_with_rows(tmp_path):
    assert _run_with_rounds(tmp_path, "replace", gen=1).pool()["prompt"][:] == [f"0+{i}=" for i in range(5)]  # the seed's
    ctx = _run_with_rounds(tmp_path, "replace", gen=4)  # 3 is empty and 2 was rejected: round 1 is the latest
    assert ctx.pool_paths() == [ctx.run.stage_dir(1, "curate") / "data"]
    assert ctx.pool()["prompt"][:] == [f"1+{i}=" for i in range(3)]


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
    # generation 2 trained on generation 1's round and its own, the seed's data replaced
    earlier = read_json(run / "gen_2" / "train" / "train.json")["train_examples"]["earlier"]
    assert earlier == read_json(run / "gen_1" / "curate" / "curation.json")["kept"] != read_json(run / "gen_1" / "train" / "train.json")["train_examples"]["earlier"]


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
    assert cfgs["collapse"].data._target_.endswith("Replace") and cfgs["plateau"].data._target_.endswith("Accumulate")
    assert cfgs["plateau"].stage.review.sample_size == cfgs["collapse"].stage.review.sample_size == 0  # no label audit: the gate is tested
    assert cfgs["no_humans"].humans.mode == "none" and cfgs["no_humans"].judge._target_ == cfgs["improve"].judge._target_
