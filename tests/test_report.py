"""The run's pictures and report on a long ladder: a level x generation heatmap with a row per level, per-level numbers
that stay one row a generation."""
from __future__ import annotations

import math

import matplotlib.image as mpimg
import pytest
import torch

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Verdict
from pipeline.core.report import _plot, accuracy_grid, per_level_lines
from pipeline.core.rundir import RunDir, write_json
from tests.conftest import make_cfg, record_json


def ladder(mastered: int, top: int) -> dict[int, float]:
    """Accuracy 1.0 on levels 1..mastered, then falling to 0 by `top`."""
    return {lv: 1.0 if lv <= mastered else max(0.0, 1 - 0.4 * (lv - mastered)) for lv in range(1, top + 1)}


def records(n: int) -> list[dict]:
    """`n` generations, each climbing 3 levels (the fourth rejected and off the ladder the others reached)."""
    out = []
    for g in range(1, n + 1):
        promoted = g != 4
        out.append({"generation": g, "promoted": promoted, "frontier": 5 + 3 * g, "per_level_accuracy": ladder(5 + 3 * g, 7 + 3 * g)})
    return out


def test_the_heatmap_has_one_row_per_level_present_and_one_column_per_scored_generation():
    recs = records(10)  # levels up to 37
    recs.append({"generation": 11, "promoted": False, "frontier": 35, "per_level_accuracy": {}})  # blocked: nothing scored
    levels, gens, grid = accuracy_grid(ladder(5, 7), recs)
    assert levels == list(range(1, 38)) and gens == list(range(0, 11)) and grid.shape == (37, 11)
    assert grid[levels.index(37), gens.index(10)] == pytest.approx(0.2) and math.isnan(grid[levels.index(37), 0])  # the seed's ladder stopped at 7
    levels, _, grid = accuracy_grid({3: 1.0, 4: 0.5}, [{"generation": 1, "promoted": True, "per_level_accuracy": {4: 0.9, 9: 0.1}}])
    assert levels == [3, 4, 9] and grid.shape == (3, 2)  # only the levels present, not the gaps between them


def test_per_level_numbers_stay_one_row_a_generation_and_name_only_the_levels_that_moved():
    lines = per_level_lines(ladder(5, 7), records(10), 0.9)
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| gen")]
    assert len(rows) == 11  # the seed and ten generations, on a ladder of 37 levels
    assert rows[0].startswith("| 0 | 1..5 | 6: 0.60, 7: 0.20 |")
    assert rows[10].startswith("| 10 | 1..35 | 36: 0.60, 37: 0.20 |")
    assert "| 4 (rejected) |" in rows[4] and all(len(row) < 200 for row in rows)
    assert rows[1].split("|")[4].strip() == "6: +0.40, 7: +0.80"  # the levels that moved, not the ones that held


def test_the_accuracy_picture_draws_a_long_ladder_with_its_cap(tmp_path):
    cfg = make_cfg(tmp_path, "eval.max_level=40")
    ctx = Context.build(cfg, RunDir(tmp_path / "run"), torch.device("cpu"), NoLogger())
    write_json(ctx.run.stage_dir(0, "verify") / "verdict.json", record_json(Verdict, successor_frontier=5))
    _plot(ctx, ladder(5, 7), records(10))
    height, width, _ = mpimg.imread(ctx.run.root / "accuracy.png").shape
    assert width > 1.5 * height  # three panels side by side: lines, heatmap, frontier


def test_a_small_level_below_the_bar_is_passed_over_as_the_gate_does():
    """1-digit addition has 13 held-out items: 11 of 13 right is below 0.9 and says nothing, as the gate's frontier has it."""
    rec = {"generation": 1, "promoted": False, "per_level_accuracy": {1: 11 / 13, 2: 1.0, 3: 0.95, 4: 0.5}, "per_level_items": {1: 13, 2: 200, 3: 200, 4: 200}}
    rows = per_level_lines({1: 1.0, 2: 1.0, 3: 0.5}, [rec], 0.9, min_items=30, seed_items={1: 13, 2: 200, 3: 200})
    assert rows[-1].startswith("| 1 (rejected) | 1..3 | 4: 0.50 | 1: -0.15, 3: +0.45 |")
