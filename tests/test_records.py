"""The typed records stages hand each other: each reads and writes exactly the JSON the run folder holds."""
from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import (
    Audit,
    Built,
    Candidates,
    Curation,
    Experiment,
    Interpretation,
    Pilot,
    Recipe,
    Record,
    RecordError,
    SeedAudit,
    SeedTraining,
    Selected,
    TrainRecord,
    Verdict,
    Weaknesses,
)
from pipeline.core.rundir import RunDir
from tests.conftest import make_cfg

RECIPE = {"warm_start": True, "hidden": 64, "layers": 4, "heads": 4, "steps": 200, "batch_size": 256, "lr": 0.001,
          "warmup": 20, "new_share": 0.5, "temperature": 0.0, "judge_threshold": None}
FAR = {**RECIPE, "steps": 400}
CURVE = [{"step": 0, "loss": 2.5, "lr": 5e-05, "tokens": 4096}, {"step": 1, "loss": 2.25, "lr": 0.0001, "tokens": 8192}]

#: one file of each kind, as the stages write them (level keys are strings in JSON)
FILES: dict[str, tuple[type[Record], dict[str, Any]]] = {
    "weaknesses": (Weaknesses, {
        "champion_gen": 0, "threshold": 0.9, "frontier": 2, "per_level_accuracy": {"1": 1.0, "2": 0.95, "3": 0.4},
        "errors": {"1": {"errors": 0, "malformed": 0, "wrong_digits": 0, "mean_digits_wrong": 0.0},
                   "3": {"errors": 60, "malformed": 10, "wrong_digits": 50, "mean_digits_wrong": 1.2}},
        "weaknesses": [{"level": 3, "accuracy": 0.4, "kind": "wrong_digits"}]}),
    "candidates": (Candidates, {
        "champion_recipe": RECIPE, "weaknesses": [{"level": 3, "accuracy": 0.4, "kind": "wrong_digits"}],
        "candidates": [{"id": "champion", "recipe": RECIPE, "changes": {}, "rationale": "control", "weakness": "none: the champion's recipe unchanged"},
                       {"id": "far", "recipe": FAR, "changes": {"steps": [200, 400]}, "rationale": "train longer",
                        "weakness": "level 3 accuracy 0.40 < 0.9, wrong digits"}]}),
    "built": (Built, {
        "memory": "estimate", "max_params": 2000000, "max_memory_mb": 2048,
        "built": [{"id": "champion", "recipe": RECIPE, "params": 201024, "memory_mb": 48.2, "loss": 0.0123, "update": 0.0042,
                   "flops": 3.1e13, "trial_flops": 1.5e11, "repairs": []}],
        "dropped": [{"id": "far", "reason": "unstable step at lr 1 after 3 lr cuts", "repairs": ["unstable step: lr / 10 = 0.1"]}]}),
    "experiment": (Experiment, {
        "pilot_steps": 30, "seeds": [0, 1], "levels": [3, 4], "frontier": 3, "items_per_level": 200, "executor": "Inline",
        "pilots": [{"id": "champion", "seed": 0, "final_acc": {"3": 0.95, "4": 0.5}, "flops": 1e9, "seconds": 1.5, "diverged": False,
                    "file": "pilots/champion-s0.json"}],
        "rounds": [{"path": "rounds/0", "temperature": 0.0, "judge_threshold": None, "candidates": 1024, "kept": 700}],
        "skipped": [{"id": "far", "seed": 1, "skipped": "nothing to train on"}]}),
    "interpretation": (Interpretation, {
        "frontier": 3, "target_level": 4,
        "ranked": [{"id": "far", "seeds": 2, "acc_mean": 0.6, "acc_std": 0.01, "acc_frontier": None, "slope": 9.5, "flops": 2e9,
                    "full_flops": 2.6e14, "acc_se": 0.02, "seed_finals": {"0": 0.59, "1": 0.61}, "flags": ["unstable"], "recipe": FAR,
                    "gain": 0.1, "gain_noise": 0.03}], "seed_spread": 0.02}),
    "selected": (Selected, {
        "id": "far", "recipe": FAR, "rationale": "train longer", "reason": "'far' beat the champion's recipe", "predicted_gain": 0.1,
        "champion_accuracy": None, "gain_per_pflop": 384.6, "criterion": "gain per compute"}),
    "curation": (Curation, {
        "levels": [4, 5], "judge": "SplitJudge", "judge_reads_ground_truth": False, "judge_threshold": 0.99, "candidates": 4096,
        "kept": 3000, "label_accuracy": 0.8, "judge_precision": 0.99, "judge_recall": 0.9, "judge_yield": 0.7324, "contaminated": 0,
        "calibration": None, "strata": {"4x5": {"candidates": 10, "kept": 7, "kept_correct": None}}, "kept_per_level": {"4": 1500, "5": 1500}}),
    "train": (TrainRecord, {
        "recipe": RECIPE, "params": 201024, "steps": 2, "seconds": 1.5, "flops": 4.9e12, "final_loss": 2.25, "curve": CURVE,
        "train_examples": {"new": 3000, "earlier": 200000}}),
    "train (until learned)": (TrainRecord, {
        "recipe": RECIPE, "params": 201024, "steps": 2, "seconds": 1.5, "flops": 4.9e12, "final_loss": 2.25, "curve": CURVE,
        "cap": 200, "learned_at": None, "checks": [{"step": 50, "accuracy": {"1": 1.0}}], "train_examples": {"new": 3000, "earlier": 200000}}),
    "train (failed)": (TrainRecord, {
        "recipe": {**RECIPE, "lr": 1000000.0}, "failed": "non-finite loss nan at step 3 (recipe lr 1e+06, ...)", "step": 3, "seconds": 0.4}),
    "train (seed)": (SeedTraining, {
        "recipe": {"warm_start": False, "hidden": 64, "layers": 4, "heads": 4, "steps": 6000, "batch_size": 128, "lr": 0.002, "warmup": 50},
        "params": 201024, "steps": 2, "seconds": 1.5, "flops": 4.9e12, "final_loss": 2.25, "curve": CURVE, "levels": 5,
        "checks": [{"step": 100, "accuracy": {"1": 1.0}}], "settled_at": None, "mastered": True}),
    "verdict (seed)": (Verdict, {
        "promoted": True, "reason": "the seed is the first champion", "p_value": None, "wins": 0, "losses": 0,
        "gate_levels": [], "champion_frontier": 0, "successor_frontier": 5, "champion_accuracy": {}, "successor_accuracy": {"1": 1.0, "6": 0.2},
        "regressions": {}, "alpha": None, "items": {"1": 13, "6": 500}, "reference": {}, "champion_gen": None, "successor_correct": "1011", "device": "cpu",
        "dtype": "float32", "scorer": "TrueAnswers"}),
    "verdict (controlled)": (Verdict, {
        "promoted": False, "reason": "better than the champion, but not than the control", "p_value": 0.001,
        "wins": 40, "losses": 3, "gate_levels": [6, 7], "champion_frontier": 5, "successor_frontier": 6,
        "champion_accuracy": {"6": 0.5}, "successor_accuracy": {"6": 0.95}, "regressions": {"2": 0.9}, "alpha": 0.0304, "items": {"6": 500},
        "reference": {"5": 495}, "champion_gen": 1, "successor_correct": "10", "device": "cuda", "dtype": "bfloat16", "scorer": "TrueAnswers",
        "control": {"reason": "no significant gain", "p_value": 0.4, "wins": 3, "losses": 2, "frontier": 6, "accuracy": {"6": 0.94}, "correct": "11"}}),
    "audit (seed)": (SeedAudit, {
        "items": {"1": 13, "6": 500}, "successor_correct": "101", "device": "cpu", "dtype": "float32", "successor_frontier": 5,
        "successor_accuracy": {"1": 1.0, "6": 0.1}}),
    "audit": (Audit, {
        "items": {"6": 500}, "successor_correct": "10", "device": "cpu", "dtype": "float32", "champion_gen": 0, "champion_frontier": 5,
        "estimated_frontier": 5, "judge": {"judge_precision": 0.99, "judge_recall": 0.9, "judge_yield": 0.7, "label_accuracy": 0.8},
        "outcome": "false promotion", "self_promoted": True, "truth_promoted": False, "alpha": 0.0304, "truth_reason": "no significant gain",
        "successor_frontier": 5, "successor_accuracy": {"6": 0.5}}),
    "audit (no successor)": (Audit, {
        "items": {"6": 500}, "successor_correct": None, "device": "cpu", "dtype": "float32", "champion_gen": 1, "champion_frontier": 6,
        "estimated_frontier": None, "judge": None, "outcome": "no successor"}),
}


def through_json(data: Any) -> Any:
    """What a file holds once written: level keys become strings."""
    return json.loads(json.dumps(data))


@pytest.mark.parametrize("name", list(FILES))
def test_every_record_writes_back_the_json_it_was_read_from_key_for_key(name):
    record, data = FILES[name]
    out = record.from_json(data).to_json()
    assert through_json(out) == data and list(out) == list(data)  # the same keys, in the same order


def test_fields_are_typed_level_keys_are_integers_and_nested_records_are_records():
    weak = Weaknesses.from_json(FILES["weaknesses"][1])
    assert weak.per_level_accuracy == {1: 1.0, 2: 0.95, 3: 0.4} and weak.errors[3].malformed == 10
    assert weak.next_level == 3 and weak.describe() == "level 3 accuracy 0.40 < 0.9, wrong digits"
    cands = Candidates.from_json(FILES["candidates"][1])
    assert cands.candidates[1].recipe == Recipe.from_json(RECIPE).replace(steps=400) and cands.candidates[1].recipe.steps == 400
    seed = Verdict.from_json(FILES["verdict (seed)"][1])
    assert seed.items == {1: 13, 6: 500} and seed.computed() == {"device": "cpu", "dtype": "float32", "scorer": "TrueAnswers"}
    train = TrainRecord.from_json(FILES["train (until learned)"][1])
    assert train.details == {"cap": 200, "learned_at": None, "checks": [{"step": 50, "accuracy": {"1": 1.0}}]}
    assert train.curve is not None and train.curve[1].loss == 2.25 and TrainRecord.from_json(FILES["train"][1]).details == {}


def test_the_verdict_says_what_became_of_the_successor_and_the_champions_frontier_after_it():
    controlled = Verdict.from_json(FILES["verdict (controlled)"][1])
    assert controlled.outcome == "rejected" and controlled.frontier == 5
    assert controlled.details["control"]["correct"] == "11"
    seed = Verdict.from_json(FILES["verdict (seed)"][1])
    assert seed.outcome == "promoted" and seed.frontier == 5


def test_a_record_without_its_optional_keys_loads_with_their_defaults_and_writes_none_of_them():
    data = {k: v for k, v in FILES["verdict (seed)"][1].items()
            if k not in ("regressions", "alpha", "items", "reference", "successor_correct", "device", "dtype", "scorer")}
    verdict = Verdict.from_json(data)  # a verdict from before answers were recorded
    assert verdict.successor_correct is None and verdict.items == {} and verdict.alpha is None
    assert through_json(verdict.to_json()) == {**data, "regressions": {}, "alpha": None, "items": {}, "reference": {}}
    recipe = Recipe.from_json({k: v for k, v in RECIPE.items() if k not in ("temperature", "judge_threshold")})
    assert recipe.temperature == 0.0 and recipe.judge_threshold is None
    seed = SeedTraining.from_json({k: v for k, v in FILES["train (seed)"][1].items() if k not in ("settled_at", "mastered")})
    assert seed.settled_at is None and seed.mastered is None


@pytest.mark.parametrize("record, data, key", [
    (Verdict, {**FILES["verdict (seed)"][1], "promotd": True}, "'promotd'"),
    (Selected, {**FILES["selected"][1], "recipe": {**FAR, "stpes": 400}}, "'stpes'"),  # nested: the recipe's key
    (TrainRecord, {**FILES["train"][1], "learnd_at": 3}, "'learnd_at'"),  # extras are named: no other key slips into details
])
def test_an_unknown_key_is_an_error_that_names_it(record, data, key):
    with pytest.raises(RecordError, match=f"unknown key\\(s\\) {key}"):
        record.from_json(data)


def test_a_missing_required_key_is_an_error_that_names_it():
    with pytest.raises(RecordError, match="Weaknesses \\(weaknesses/weaknesses.json\\): missing key 'frontier'"):
        Weaknesses.from_json({k: v for k, v in FILES["weaknesses"][1].items() if k != "frontier"})
    with pytest.raises(RecordError, match="expected a JSON object"):
        Curation.from_json([1, 2])


def test_a_recipe_change_is_a_new_recipe_and_an_unknown_knob_is_refused():
    recipe = Recipe.from_json(RECIPE)
    assert recipe.replace(lr=0.0005).lr == 0.0005 and recipe.lr == 0.001
    with pytest.raises(TypeError):
        recipe.replace(stpes=400)


def test_the_context_writes_a_record_into_its_stage_folder_and_reads_it_back(tmp_path):
    ctx = Context.build(make_cfg(tmp_path), RunDir(tmp_path / "run"), torch.device("cpu"), NoLogger(), gen=2)
    with pytest.raises(FileNotFoundError, match="stage 'select' must run before this one"):
        ctx.read(Selected)
    assert ctx.maybe(Selected) is None
    selected = Selected.from_json(FILES["selected"][1])
    ctx.write(selected)
    path = tmp_path / "run" / "gen_2" / "select" / "selected.json"
    assert json.loads(path.read_text()) == FILES["selected"][1]
    assert ctx.read(Selected) == selected and ctx.maybe(Selected, gen=2) == selected and ctx.recipe() == selected.recipe
    assert ctx.maybe(Selected, gen=1) is None


def test_pilots_cross_processes_as_plain_json_and_read_back_as_records():
    pilot = {"id": "far", "seed": 0, "recipe": FAR, "steps": 30, "batch_size": 128, "warmup": 3, "params": 1000, "items": {"4": 400},
             "curve": CURVE, "checkpoints": [{"step": 30, "tokens": 0, "loss": None, "acc": {"4": 0.5}}], "final_acc": {"4": 0.5},
             "final_loss": None, "flops": 1e9, "seconds": 1.0, "diverged": True}
    record = Pilot.from_json(pilot)
    assert record.checkpoints[0].acc == {4: 0.5} and record.recipe.steps == 400
    assert through_json(record.to_json()) == pilot
