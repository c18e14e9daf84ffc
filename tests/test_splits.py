import hashlib
import random

import pytest

from pipeline.core.context import Context
from pipeline.core.truth import AUDIT, SEED
from pipeline.loop import run_loop
from pipeline.ml.splits import Splits
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg


def test_splits_partition_prompts_and_ladders_stay_in_their_split():
    splits, task = Splits(10, 10, 10), ReversedAddition()
    ladders = {s: splits.ladder(task, s, range(1, 6), 50, seed=0) for s in ("test", "dev", "audit")}
    for split, items in ladders.items():
        assert {splits.of(p.prompt) for p in items} == {split}
        assert len({p.prompt for p in items}) == len(items)  # distinct items
        assert len([p for p in items if p.level == 4]) == 50
    prompts = [{p.prompt for p in items} for items in ladders.values()]
    assert not (prompts[0] & prompts[1] or prompts[0] & prompts[2] or prompts[1] & prompts[2])


def test_the_audit_split_takes_its_buckets_from_training_and_leaves_test_and_dev_as_they_were():
    task, rng = ReversedAddition(), random.Random(0)
    splits = Splits(10, 10, 10)
    for p in task.sample(4, 2000, rng):
        bucket = int(hashlib.sha256(p.prompt.encode()).hexdigest()[:8], 16) % 100
        assert splits.of(p.prompt) == ("test" if bucket < 10 else "dev" if bucket < 20 else "audit" if bucket < 30 else "train")


def test_training_draws_never_contain_a_held_out_item_and_contamination_counts_the_graded_splits_by_bucket():
    splits, task = Splits(10, 10, 10), ReversedAddition()
    train = splits.draw("train", 3000, lambda r: task.sample_mixed(3, r), random.Random(1))
    assert {splits.of(p.prompt) for p in train} == {"train"} and splits.contamination(p.prompt for p in train) == 0
    held = {s: splits.draw(s, 3, lambda r: task.sample_level(5, r), random.Random(2)) for s in ("test", "dev", "audit")}
    prompts = [p.prompt for p in train]
    assert splits.contamination(prompts + [p.prompt for p in held["test"]]) == 3  # items no ladder holds count too
    assert splits.contamination(prompts + [p.prompt for p in held["audit"]]) == 3
    assert splits.contamination(prompts + [p.prompt for p in held["dev"]]) == 0  # dev items grade nothing


def test_bad_split_sizes_are_refused():
    with pytest.raises(ValueError, match="leave room for training"):
        Splits(40, 30, 30)
    with pytest.raises(ValueError, match="audit 0"):
        Splits(10, 10, 0)


def test_only_the_gate_reads_the_test_ladder_and_only_the_shadow_audit_reads_its_own(tmp_path, monkeypatch):
    """A tiny loop in which the test ladder raises outside verify (and the seed's first verdict) and the audit ladder
    outside the audit, whoever asks: a stage that steers by either would tune to the items that judge it."""
    readers = {"test": {"verify", SEED}, "audit": {AUDIT}}
    real_context, real_splits = Context.ladder, Splits.ladder
    asked, via = [], []

    def context_ladder(self: Context, split: str, *args):
        if split in readers and self.truth.stage not in readers[split]:
            raise AssertionError(f"stage {self.truth.stage} of generation {self.gen} read the {split} ladder")
        asked.append((split, self.truth.stage))
        via.append(True)
        try:
            return real_context(self, split, *args)
        finally:
            via.pop()

    def splits_ladder(self: Splits, task, split: str, *args, **kwargs):
        if split in readers and not via:
            raise AssertionError(f"the {split} ladder was built outside the context's guard")
        return real_splits(self, task, split, *args, **kwargs)
    monkeypatch.setattr(Context, "ladder", context_ladder)
    monkeypatch.setattr(Splits, "ladder", splits_ladder)
    summary = run_loop(make_cfg(tmp_path, "stage.propose.k=1"), tmp_path / "run")  # one pilot recipe: every stage still runs
    assert len(summary["generations"]) == 2 and all(g["status"] in ("promoted", "rejected") for g in summary["generations"])
    assert {("test", "verify"), ("test", SEED), ("audit", AUDIT), ("dev", "weaknesses")} <= set(asked)
    # the run says how often the audit's own verdict and the gate's disagreed
    disagreed = sum(g["audit"] in ("false promotion", "false rejection") for g in summary["generations"])
    assert summary["audit_disagreed"] == disagreed and summary["gate_decisions"] == 2
    assert f"disagreed with the gate on {disagreed} of 2 decisions" in (tmp_path / "run" / "report.md").read_text()
