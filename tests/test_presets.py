"""The default round's levels, the GPU and reach presets at reduced size on the CPU, the 10-digit adder check, and the judge table's arithmetic."""
from __future__ import annotations

import json
import random

import hydra
import pytest

from pipeline.components.rounds import Offsets
from pipeline.core import plugins
from pipeline.core.validate import validate
from pipeline.loop import run_loop
from pipeline.ml.data import load_rows
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from pipeline.stages.train import UntilLearned
from pipeline.tools.adder_check import carry_failures, champion_dir, long_carries, uniform_accuracy
from pipeline.tools.judge_table import compare, recorded, score
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg

SMALL = ["model.hidden=32", "model.layers=2", "model.heads=2", "seed_model.levels=2", "seed_model.n_problems=400",
         "seed_model.max_steps=20", "seed_model.batch_size=32", "seed_model.warmup=2", "recipe.steps=5", "recipe.batch_size=32",
         "recipe.warmup=1", "eval.max_level=4", "eval.items_per_level=20", "stage.curate.n_problems=64", "stage.experiment.round_size=32",
         "stage.experiment.steps=2", "stage.experiment.checkpoints=1", "stage.experiment.items_per_level=10", "stage.experiment.max_rows=128",
         "loop.max_generations=1", "cache_dir=null", "logger=none",
         "stage.verify.gate.min_items=5"]  # 20 items a level: judge every level (as the tiny preset), or none is judged


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    cfg = make_cfg(tmp, "experiment=gpu", *SMALL, experiment=None)
    return run_loop(cfg, tmp / "run"), tmp / "run"


def test_the_gpu_preset_is_a_bigger_model_with_a_judge_that_reads_no_ground_truth(tmp_path):
    cfg = make_cfg(tmp_path, "experiment=gpu", experiment=None)
    validate(cfg)
    assert cfg.name == "gpu" and cfg.model.hidden * cfg.model.layers > 64 * 4 and cfg.seed_model.levels == 5
    judge = hydra.utils.get_class(cfg.judge._target_)
    assert not judge.reads_ground_truth and cfg.stage.curate.n_problems > 8192


def test_the_gpu_preset_runs_on_the_cpu_at_reduced_size(gpu_run):
    summary, run = gpu_run
    assert summary["judge"] == "SplitJudge" and summary["device"] == "cpu" and len(summary["generations"]) == 1
    model, tok = load(champion_dir(run))
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2


def test_the_adder_check_draws_both_operands_uniformly(adder):
    model, tok = load(adder)  # learned 1-digit sums only
    assert uniform_accuracy(model, tok, digits=1, n=200) > 0.9
    assert uniform_accuracy(model, tok, digits=3, n=200) < 0.1


def test_judge_scores_count_right_kept_labels():
    assert score([True, True, False, False], [True, False, True, False]) == {"candidates": 4, "kept": 2, "precision": 0.5, "recall": 0.5, "yield": 0.5}
    assert score([False, False], [True, False])["precision"] is None


def test_the_judge_table_replays_a_runs_round(gpu_run):
    summary, run = gpu_run
    rows = compare(run, [1], ["consistency", "none"], ["run"])
    judged = json.loads((run / "gen_1" / "curate" / "curation.json").read_text())
    by = {r["judge"]: r for r in rows}
    assert by["none"]["kept"] == by["none"]["candidates"] == judged["candidates"]  # the same candidates the run judged
    assert by["none"]["precision"] == pytest.approx(judged["label_accuracy"], abs=1e-4)
    level = max(judged["levels"])
    hard = sum(v["candidates"] for k, v in judged["strata"].items() if k == f"{level}x{level}")
    assert by["none"]["hard"]["candidates"] == hard and 0 <= by["consistency"]["kept"] <= judged["candidates"]
    assert by["none"]["top"]["candidates"] == sum(v["candidates"] for k, v in judged["strata"].items() if str(level) in k.split("x"))


def test_behind_a_labeler_the_table_starts_from_the_champions_answers_as_posed(gpu_run):
    """The run labelled its round with split labels; `greedy` must judge the champion's own answers as posed, not those.
    The length judge keeps the well-formed labels, counted here on each set of answers."""
    summary, run = gpu_run
    by = {r["labeler"]: r for r in compare(run, [1], ["length"], ["run", "greedy", "split"])}
    judged = load_rows(run / "gen_1" / "curate" / "judged")[:]
    champion = json.loads((run / "gen_1" / "weaknesses" / "weaknesses.json").read_text())["champion_gen"]
    model, tok = load(run / f"gen_{champion}" / "train" / "model")
    task = ReversedAddition()
    answers = {"greedy": greedy(model, tok, judged["prompt"]), "run (split)": judged["answer"]}
    well_formed = {name: sum(map(task.well_formed, judged["prompt"], a)) for name, a in answers.items()}
    assert well_formed["greedy"] != well_formed["run (split)"]  # the two sets differ where the judge looks, or this shows nothing
    for name, n in well_formed.items():
        assert by[name]["kept"] == n
    assert by["split"]["kept"] == by["run (split)"]["kept"]  # split, asked again, labels as the run did


def test_the_recorded_table_agrees_with_the_rounds_judged_rows(tmp_path):
    """curation.json's strata (what --recorded reads) against the judged rows themselves, counted here; judge=none
    keeps every label, right and wrong, so the counts and precisions are not trivially zero or one."""
    run = tmp_path / "run"
    run_loop(make_cfg(tmp_path, "judge=none", "loop.max_generations=1", "loop.stages=[weaknesses,curate,train,verify]",
                      "seed_model.max_steps=300", "round.ahead=[1,2]"), run)  # a seed that answers some of its round right
    (row,) = recorded(run, [1])
    judged = load_rows(run / "gen_1" / "curate" / "judged")[:]
    level = max(judged["level"])
    rows = list(zip(judged["prompt"], judged["level"], judged["kept"], judged["correct"]))
    for part, where in (("top", lambda p, lv: lv == level), ("hard", lambda p, lv: all(len(x) == level for x in p[:-1].split("+")))):
        mine = [(k, c) for p, lv, k, c in rows if where(p, lv)]
        kept = [c for k, c in mine if k]
        assert row[part]["candidates"] == len(mine) and row[part]["kept"] == len(kept) > 0
        assert row[part]["precision"] == pytest.approx(sum(kept) / len(kept))
    assert row["kept"] == sum(judged["kept"]) and row["level"] == level and 0 < row["top"]["precision"] < 1


def test_a_judge_variant_sets_keys_and_takes_the_runs_sizes(tmp_path):
    root = make_cfg(tmp_path, "recipe.steps=123", "seed_model.max_steps=77")
    cfg = plugins.option("judge", "committee:min_agreement=0.8,members=6", root)
    assert cfg.min_agreement == 0.8 and cfg.members == 6 and cfg._target_.endswith("CommitteeJudge")
    assert plugins.option("judge", "committee", root).min_agreement == 1.0
    peers = plugins.option("judge", "peers", root)  # its training follows the run's recipe and seed, not a copy of them
    assert (peers.steps, peers.seed_max_steps) == (123, 77)


def _mastered_share(task: ReversedAddition, level: int, frontier: int, rng: random.Random) -> float:
    """The share of `level` problems that cut into pieces no longer than `frontier` (what split labels ask the champion)."""
    problems = task.sample(level, 1000, rng)
    pieces = [task.pieces(p.prompt) for p in problems]
    return sum(bool(ps) and all(max(len(x) for x in q[:-1].split("+")) <= frontier for q in ps) for ps in pieces) / len(problems)


def test_the_default_round_draws_levels_past_the_next_whose_halves_the_champion_has_mastered(tmp_path):
    cfg = make_cfg(tmp_path, experiment=None)
    assert cfg.labeler._target_ == "pipeline.components.labelers.Split"  # the labeler that asks the halves
    task, rng, frontier = ReversedAddition(), random.Random(0), 5
    levels = Offsets(cfg.round.ahead).levels(frontier, cfg.eval.max_level)
    assert min(levels) > frontier + 1  # past what a champion answers as posed
    assert all(_mastered_share(task, level, frontier, rng) > 0.85 for level in levels)  # 0.96 and 0.90 at 7 and 8
    assert _mastered_share(task, 2 * frontier + 2, frontier, rng) < 0.5  # the limit: past twice the frontier, most do not cut so


def test_a_round_never_labels_past_the_cap_of_the_ladder(tmp_path):
    cfg = make_cfg(tmp_path, "eval.max_level=12", experiment=None)
    top, ahead = cfg.eval.max_level, cfg.round.ahead
    rnd = Offsets(ahead)
    assert rnd.levels(top - 1, top) == [top]  # from 11: the round's 13 and 14 become 12, the last level a gate measures
    assert rnd.levels(5, top) == [5 + d for d in ahead]  # below the top nothing changes
    assert rnd.levels(30, None) == [30 + d for d in ahead]  # no cap (the default): nothing to clip


def test_every_long_carry_case_carries_through_every_column():
    cases = long_carries(4)
    assert (9_999, 1) in cases and (99, 99) in cases and all(max(a, b) < 10**4 for a, b in cases)
    for a, b in cases:
        width, carry = len(str(max(a, b))), 0
        for col in range(width):  # a carry leaves every column, the lowest included
            carry = (a // 10**col % 10 + b // 10**col % 10 + carry) // 10
            assert carry == 1, (a, b, col)


def test_the_long_carry_check_names_the_sums_a_model_gets_wrong(adder):
    model, tok = load(adder)  # learned 1-digit sums only: every long carry of 2 and 3 digits is past it
    n, wrong = carry_failures(model, tok, digits=3)
    assert n == len(long_carries(3)) == 10 and len(wrong) >= 8
    assert any(w.startswith("999 + 1 = 1,000: answered ") for w in wrong)


def test_the_reach_preset_labels_past_the_frontier_to_twice_it_and_replays_each_level_apart(tmp_path, monkeypatch):
    """One generation of `experiment=reach` at reduced size: the round holds levels f+1..2f of the frontier the
    weaknesses stage measured (at least two levels, under the cap, at most twelve), and training draws the earlier data
    (the seed's levels 1 and 2) one level a group, an equal share each."""
    handed: list[tuple[set[int], float]] = []
    fit = UntilLearned.fit

    def spy(self, ctx, model, tok, sources, recipe, new):
        for encoded, weight in sources:
            prompts = [text.replace(" ", "").split("=")[0] for text in tok.batch_decode(encoded.input_ids, skip_special_tokens=True)]
            handed.append(({max(map(len, p.split("+"))) for p in prompts}, weight))
        return fit(self, ctx, model, tok, sources, recipe, new)

    monkeypatch.setattr(UntilLearned, "fit", spy)
    cfg = make_cfg(tmp_path, "experiment=reach", *SMALL, "eval.max_level=8", experiment=None)
    summary = run_loop(cfg, tmp_path / "run")
    assert cfg.name == "reach" and len(summary["generations"]) == 1
    run = tmp_path / "run" / "gen_1"
    f = json.loads((run / "weaknesses" / "weaknesses.json").read_text())["frontier"]
    asked = json.loads((run / "curate" / "curation.json").read_text())["levels"]
    assert asked == list(range(f + 1, min(max(2 * f, f + 2), 8) + 1))
    assert handed[0][1] == 0.5 and handed[1:] == [({1}, 0.25), ({2}, 0.25)]
    assert plugins.instantiate(cfg.round, plugins.PROJECT).levels(20, None) == list(range(21, 33))  # 21..40 held to twelve
