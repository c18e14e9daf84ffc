"""Held-out ladders that follow the champion: items made on first use from (seed, split, level) alone, climbed as far as
the models need, never past a cap."""
from __future__ import annotations

from pathlib import Path

import torch

from pipeline.core.context import Context, recorded_right
from pipeline.core.logger import NoLogger
from pipeline.core.rundir import RunDir
from tests.conftest import make_cfg


def context(tmp_path: Path, *overrides: str, gen: int = 1) -> Context:
    cfg = make_cfg(tmp_path, "eval.items_per_level=40", *overrides)
    return Context.build(cfg, RunDir(tmp_path / "run"), torch.device("cpu"), NoLogger(), gen=gen)


def up_to(front: int):
    """A stand-in model's scorer: right at every level up to `front`, wrong past it."""
    return lambda items, offset: [[p.level <= front for p in items]]


def test_a_levels_items_are_the_same_whatever_the_run_asked_before(tmp_path):
    """Two contexts (two runs, or one before and after a resume) that first ask for the levels in different orders and
    by different routes get the same items at every level, for every split."""
    a, b = (context(tmp_path / name, "eval.max_level=null", "seed_model.levels=5") for name in ("a", "b"))
    for split in ("dev", "test", "audit"):
        a.ladder(split, [9])  # a deep level first
        a.dev_items([3], 5)
        climbed, _ = a.climb(split, up_to(6), 0.9, 5)
        b_items = b.ladder(split, range(1, 10))  # the whole ladder at once, shallow first
        for level in range(1, 10):
            mine = [p.prompt for p in b_items if p.level == level]
            assert [p.prompt for p in a.ladder(split, [level])] == mine
            assert level > 8 or [p.prompt for p in climbed if p.level == level] == mine
    other_seed = context(tmp_path / "c", "seed=1")
    assert [p.prompt for p in other_seed.ladder("test", [7])] != [p.prompt for p in a.ladder("test", [7])]


def test_a_levels_test_dev_and_audit_items_are_disjoint_and_each_in_its_split(tmp_path):
    ctx = context(tmp_path, "eval.max_level=null")
    for level in (3, 12, 31):
        held = {s: [p.prompt for p in ctx.ladder(s, [level])] for s in ("test", "dev", "audit")}
        for split, prompts in held.items():
            assert len(prompts) == 40 and len(set(prompts)) == 40
            assert {ctx.splits.of(p) for p in prompts} == {split}
        assert not (set(held["test"]) & set(held["dev"]) or set(held["test"]) & set(held["audit"]) or set(held["dev"]) & set(held["audit"]))


def test_a_climb_goes_beyond_every_models_frontier_and_no_further(tmp_path):
    ctx = context(tmp_path, "eval.max_level=null", "eval.beyond=2", "seed_model.levels=10")
    items, (champion, successor) = ctx.climb("test", lambda items, offset: [up_to(4)(items, offset)[0], up_to(7)(items, offset)[0]], 0.9, 5, models=2)
    assert max(p.level for p in items) == 9  # the successor's frontier 7, two levels past it
    assert [p.level for p in items] == sorted(p.level for p in items) and len(champion) == len(successor) == len(items)
    alone, _ = ctx.climb("test", up_to(4), 0.9, 5)
    assert max(p.level for p in alone) == 6 and items[:len(alone)] == alone  # a shorter climb is a prefix of a longer one


def test_a_capped_ladder_is_never_climbed_past_the_cap_and_an_uncapped_one_stops_at_its_ceiling(tmp_path):
    capped = context(tmp_path / "capped", "eval.max_level=5")
    items, _ = capped.climb("dev", up_to(100), 0.9, 5)  # a model that answers everything
    assert max(p.level for p in items) == 5
    free = context(tmp_path / "free", "eval.max_level=null", "seed_model.levels=3", "eval.beyond=2", gen=0)
    items, _ = free.climb("dev", up_to(100), 0.9, 5)  # a label-free scorer that calls every answer right: bounded all the same
    assert max(p.level for p in items) == 2 * 3 + 2


def test_recorded_answers_count_only_at_the_levels_they_cover_whole(tmp_path):
    ctx = context(tmp_path, "eval.max_level=null")
    items = ctx.ladder("test", range(1, 5))
    short = ctx.ladder("test", range(1, 3))
    assert recorded_right(items, "1" * len(short)) == {lv: len(ctx.ladder("test", [lv])) for lv in (1, 2)}  # a champion's shorter ladder
    assert recorded_right(short, "1" * (len(items) + 10)) == {lv: len(ctx.ladder("test", [lv])) for lv in (1, 2)}  # a longer one
    assert 2 not in recorded_right(items, "1" * (len(short) - 1))  # a level the answers cover in part does not count


def test_a_level_with_no_item_in_the_split_is_passed_over_not_taken_for_the_top(tmp_path):
    """1-character strings have ten prompts: the audit split may hold none of them, and the climb goes on above."""
    ctx = context(tmp_path, "task=reverse", "eval.max_level=null", "seed_model.levels=4")
    assert not ctx.ladder("audit", [1])
    items, (correct, other) = ctx.climb("audit", lambda items, offset: [[p.level <= 3 for p in items]] * 2, 0.9, 5, models=2)
    assert min(p.level for p in items) == 2 and max(p.level for p in items) == 5 and len(correct) == len(other) == len(items)
