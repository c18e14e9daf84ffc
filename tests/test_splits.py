import random

import pytest

from pipeline.splits import Splits, contamination
from tasks.addition import ReversedAddition


def test_splits_partition_prompts_and_ladders_stay_in_their_split():
    splits, task = Splits(10, 10), ReversedAddition()
    test = splits.ladder(task, "test", range(1, 6), 50, seed=0)
    dev = splits.ladder(task, "dev", range(1, 6), 50, seed=0)
    assert {splits.of(p.prompt) for p in test} == {"test"} and {splits.of(p.prompt) for p in dev} == {"dev"}
    assert not {p.prompt for p in test} & {p.prompt for p in dev}
    assert len({p.prompt for p in test}) == len(test)  # distinct items
    assert [p for p in test if p.level == 4] and len([p for p in test if p.level == 4]) == 50


def test_training_draws_never_contain_a_test_item():
    splits, task = Splits(10, 10), ReversedAddition()
    test = splits.ladder(task, "test", range(1, 4), 200, seed=0)
    train = splits.draw("train", 3000, lambda r: task.sample_mixed(3, r), random.Random(1))
    assert contamination([p.prompt for p in train], [p.prompt for p in test]) == 0
    assert contamination([p.prompt for p in train] + [test[0].prompt], [p.prompt for p in test]) == 1


def test_bad_split_sizes_are_refused():
    with pytest.raises(ValueError):
        Splits(60, 50)
