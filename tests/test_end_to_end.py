"""The slow reproduction: a real (small) loop from a freshly trained seed, with the oracle judge.

Minutes on a 2-core CPU, so marked slow; `make test` (and CI) still runs it.
"""
from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from pipeline.loop import run_loop
from pipeline.splits import Splits, contamination
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg


@pytest.mark.slow
def test_oracle_loop_promotes_a_better_successor(tmp_path):
    cfg = make_cfg(
        tmp_path,
        "judge=oracle", "cache_dir=null",
        "loop.max_generations=2", "recipe.steps=150", "stage.curate.n_problems=2048",
        "eval.items_per_level=100", "eval.max_level=8",
        experiment=None,
    )
    run = tmp_path / "run"
    summary = run_loop(cfg, run)
    gens = summary["generations"]
    assert summary["seed_frontier"] >= cfg.seed_model.levels - 1  # the seed learned its levels
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
    # a promoted successor is better where the gate looked
    best = next(g for g in gens if g["promoted"])
    verdict = json.loads((run / f"gen_{best['generation']}" / "verify" / "verdict.json").read_text())
    assert verdict["wins"] > verdict["losses"]
    # the gate's test items never reached any training data
    test_items = Splits(**cfg.splits).ladder(ReversedAddition(), "test", range(1, cfg.eval.max_level + 1), cfg.eval.items_per_level, cfg.seed)
    for k in range(0, len(gens) + 1):
        data = load_from_disk(str(run / f"gen_{k}" / "curate" / "data"))
        assert contamination(data["prompt"], [p.prompt for p in test_items]) == 0
