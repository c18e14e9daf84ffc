"""The seed's schedule: peak lr until it settles, then the decay; a seed the decay left unmastered trains on.

The dev checks' accuracies are scripted (a tiny model trains for real, but what is learned is not the point):
these tests pin down which step each decision is taken at."""
from __future__ import annotations


import pytest
import torch
from rich.console import Console

import pipeline.stages.seed
import pipeline.ml.fitting
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.rundir import RunDir
from pipeline.stages.seed import train_seed
from tests.conftest import make_cfg

PEAK = 3e-3  # the peak lr these tests pin: the schedule, not the default, is what they check
TINY_SEED = ("model.hidden=8", "model.layers=1", "model.heads=1", "seed_model.n_problems=200", "seed_model.max_steps=2000",
             "seed_model.batch_size=8", "seed_model.warmup=5", "seed_model.check_items=3", "seed_model.settle=0.7",
             f"seed_model.lr={PEAK}")

def _seed(tmp_path, monkeypatch, accuracies: list[float], *overrides: str) -> dict:
    script = iter(accuracies)
    monkeypatch.setattr(pipeline.ml.fitting, "per_level", lambda items, right: {1: next(script), 2: 1.0})
    logger = NoLogger()
    logger.start(tmp_path, "seed", {})
    ctx = Context.build(make_cfg(tmp_path, *TINY_SEED, *overrides), RunDir(tmp_path / "run"), torch.device("cpu"), logger)
    return train_seed(ctx, Console(quiet=True)).to_json()

def test_a_seed_decays_from_the_first_check_that_settles_and_ends_when_the_decay_does(tmp_path, monkeypatch):
    stats = _seed(tmp_path, monkeypatch, [0.5, 0.65, 0.75, 0.9, 0.995])
    # settled at the third check (step 300); the decay is 30% of a run of that length: 129 more steps, checked at 400 (not
    # mastered yet) and where it ends
    assert stats["settled_at"] == 300 and stats["steps"] == 429 and stats["mastered"]
    assert [c["step"] for c in stats["checks"]] == [100, 200, 300, 400, 429]
    assert stats["curve"][-1]["lr"] < 0.2 * PEAK


def test_a_decay_check_that_finds_the_seed_mastered_ends_it_there(tmp_path, monkeypatch):
    stats = _seed(tmp_path, monkeypatch, [0.5, 0.65, 0.75, 0.995])
    assert stats["settled_at"] == 300 and stats["steps"] == 400 and stats["mastered"]
    assert [c["step"] for c in stats["checks"]] == [100, 200, 300, 400]  # no second check of the same model
    assert 0.2 * PEAK < stats["curve"][-1]["lr"] < PEAK  # stopped part-way down the decay


def test_a_seed_the_decay_left_unmastered_holds_the_peak_again_until_it_is_mastered(tmp_path, monkeypatch):
    # settles at 200, decays to 286 where it is short of 0.99; a second round settles only on mastery (its 200th step); logged every 25 steps
    stats = _seed(tmp_path, monkeypatch, [0.6, 0.8, 0.98, 0.97, 0.995, 0.999])
    assert [c["step"] for c in stats["checks"]] == [100, 200, 286, 386, 486, 572]
    assert stats["settled_at"] == 200 and stats["steps"] == 572 and stats["mastered"]
    lrs = {point["step"]: point["lr"] for point in stats["curve"]}
    assert lrs[461] == pytest.approx(PEAK) and lrs[275] < 1e-3  # the peak again in the second round, after the first one's decay

def test_a_seed_never_mastered_stops_at_the_cap_and_says_so(tmp_path, monkeypatch):
    stats = _seed(tmp_path, monkeypatch, [0.5] * 30, "seed_model.max_steps=700")
    assert stats["steps"] == 700 and stats["settled_at"] is None and not stats["mastered"]


def test_a_seed_the_caps_decay_taught_has_no_settled_step_but_is_mastered(tmp_path, monkeypatch):
    # checks at 100..400 at the peak, then 500 in the cap's decay (from step 490), which finds it mastered
    stats = _seed(tmp_path, monkeypatch, [0.5] * 4 + [1.0], "seed_model.max_steps=700")
    assert [c["step"] for c in stats["checks"]] == [100, 200, 300, 400, 500]
    assert stats["steps"] == 500 and stats["settled_at"] is None and stats["mastered"]


def test_a_regimes_sweep_and_make_loop_share_a_seed_and_only_what_shapes_it_changes_the_key(tmp_path):
    """The seed cache key: `make loop`'s default and every `make regimes` run on the same seed find one seed model
    (the sweep's ladder, stages and safeguards do not shape it); the seed, its levels or the model make another."""
    def key(*overrides: str) -> str:
        return pipeline.stages.seed.seed_key(make_cfg(tmp_path, *overrides, experiment=None))

    default = key()
    sweep = ("loop.stages=[weaknesses,curate,train,verify]", "loop.max_generations=3", "eval.max_level=8")
    assert all(key(f"experiment={name}", *sweep) == default for name in ("improve", "upper_bound", "plateau", "collapse", "no_humans"))
    assert len({default, key("seed=1"), key("seed_model.levels=3"), key("model.hidden=32")}) == 4
