"""The slow reproduction: the regimes at CI size, from a freshly trained seed, through `make regimes`.

One seed (0), three regimes, three generations each, at a size a 2-core CPU runs in minutes: a seed that learns
1- and 2-digit sums, rounds of 2,048 problems at the frontier and one level past it, 400 training steps a
generation (at 200, an AVX-512 EPYC's improve successors gained too little at 3 digits to outweigh what they lost at 2,
and the gate refused all three). It asserts the ordering the regimes are about: a perfect verifier (upper_bound) ends at or above the
default (improve: split labels and the split judge), the default ends above a loop with every safeguard off
(collapse), and collapse loses accuracy on the levels the seed mastered. Improve's own claim is accuracy, not
frontier: its champion gains >= 0.5 on the level past the seed (3 digits). Whether three generations also lift that
level over the 0.9 mastery bar depends on the CPU (at 200 steps, AMD EPYC AVX2: yes; Intel Xeon: 0.88, 0.85, 0.85 on
seeds 0-2, a fourth generation 0.92-0.95), so the frontier is only compared across regimes. The upper bound's run is also the
end-to-end check of one real loop: the oracle's labels, the data on disk, the gate's verdicts, no test item in any
training data. Marked slow; `make test` (and CI) still runs it.
"""
from __future__ import annotations

import json

import pytest
from datasets import load_from_disk
from omegaconf import OmegaConf

from pipeline.components.gate import Gate
from pipeline.ml.splits import Splits
from pipeline.tools.regimes import load_run
from tests.test_regimes import _make_regimes

#: the CI size: the four-stage loop (as `make regimes`), a 2-level seed, small rounds and ladders. The round is at the
#: frontier and one past it: the default's two and three past a frontier of 2 are levels 4 and 5, past twice the
#: frontier, where split labels find few mastered halves (measured: 44% kept, the frontier stayed at 2).
CI_SIZE = ("logger=none", "'loop.stages=[weaknesses,curate,train,verify]'", "loop.max_generations=3", "'round.ahead=[0,1]'",
           "seed_model.levels=2", "seed_model.n_problems=20000", "seed_model.max_steps=2000", "seed_model.batch_size=128",
           "seed_model.warmup=20", "seed_model.check_items=50", "recipe.steps=400", "recipe.batch_size=64",
           "stage.curate.n_problems=2048", "eval.max_level=5", "eval.items_per_level=100")


@pytest.mark.slow
def test_ci_size_regimes_keep_their_order_and_the_upper_bound_is_a_sound_loop(tmp_path):
    sweep = tmp_path / "sweep"
    done = _make_regimes(sweep, "REGIMES=upper_bound,improve,collapse", "SEEDS=0", f"REGIMES_ARGS={' '.join(CI_SIZE)} cache_dir={tmp_path / 'cache'}")
    assert done.returncode == 0, done.stderr[-2000:]
    runs = {name: load_run(sweep / f"{name}-seed0") for name in ("upper_bound", "improve", "collapse")}
    assert all(r.finished and len(r.frontier) == 4 for r in runs.values())
    assert runs["upper_bound"].frontier[0] == 2  # the seed learned its levels
    assert runs["upper_bound"].frontier[-1] >= runs["improve"].frontier[-1] > runs["collapse"].frontier[-1]
    improve = runs["improve"]  # the default learned the level past the seed from its own judged labels
    assert improve.promotions >= 1 and improve.past[-1] >= improve.past[0] + 0.5
    collapse = runs["collapse"]
    assert collapse.mastered[-1] < collapse.mastered[0] - Gate.tolerance  # more than the gate forgives a mastered level
    _assert_a_sound_loop(sweep / "upper_bound-seed0")


def _assert_a_sound_loop(run) -> None:
    """The oracle's loop: exact labels kept, verdicts on disk, a promoted successor better where the gate looked,
    and the gate's test items in no round of training data."""
    summary = json.loads((run / "summary.json").read_text())
    gens = summary["generations"]
    assert any(g["promoted"] for g in gens), [g["reason"] for g in gens]
    for g in gens:
        k = g["generation"]
        curation = json.loads((run / f"gen_{k}" / "curate" / "curation.json").read_text())
        assert curation["judge_precision"] in (None, 1.0) and curation["contaminated"] == 0
        data = load_from_disk(str(run / f"gen_{k}" / "curate" / "data"))
        assert len(data) == curation["kept"] > 0
        verdict = json.loads((run / f"gen_{k}" / "verify" / "verdict.json").read_text())
        assert verdict["promoted"] == g["promoted"] and 0.0 <= verdict["p_value"] <= 1.0
        assert (run / f"gen_{k}" / "train" / "model" / "model.safetensors").is_file()
    best = next(g for g in gens if g["promoted"])
    verdict = json.loads((run / f"gen_{best['generation']}" / "verify" / "verdict.json").read_text())
    assert verdict["wins"] > verdict["losses"]
    splits = Splits(**OmegaConf.load(run / "run_config.yaml").splits)
    for k in range(0, len(gens) + 1):
        data = load_from_disk(str(run / f"gen_{k}" / "curate" / "data"))
        assert splits.contamination(data["prompt"]) == 0  # no test or audit item, by bucket
