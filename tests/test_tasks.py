import random

import pytest

from tasks.addition import ReversedAddition
from tasks.forward import ForwardAddition
from tasks.reverse import StringTransform


def test_reversed_addition_matches_lee_et_al_example():
    p = ReversedAddition().format(123, 45)
    assert (p.prompt, p.answer, p.level) == ("321+54=", "8610", 3)


def test_answer_is_padded_to_longer_operand_plus_one():
    task = ReversedAddition()
    assert task.format(5, 4).answer == "90"  # 9 padded to 2 digits
    assert task.format(99, 1).answer == "001"  # 100 reversed
    assert task.format(0, 0).answer == "00"


def test_level_samples_have_exactly_that_many_digits_and_correct_answers():
    task = ReversedAddition()
    for p in task.sample(6, 500, random.Random(1)):
        a, b = p.prompt.rstrip("=").split("+")
        assert max(len(a), len(b)) == 6 == p.level
        assert int(p.answer[::-1]) == int(a[::-1]) + int(b[::-1])
        assert len(p.answer) == 7 and task.check(p, p.answer)


def test_training_mixture_draws_operand_lengths_independently():
    problems = ReversedAddition().sample_upto(5, 4000, random.Random(2))
    pairs = {tuple(len(x) for x in p.prompt.rstrip("=").split("+")) for p in problems}
    assert pairs == {(i, j) for i in range(1, 6) for j in range(1, 6)}


def test_sampling_is_reproducible_from_a_seed():
    task = ReversedAddition()
    assert task.sample(4, 20, random.Random(7)) == task.sample(4, 20, random.Random(7))


def test_well_formed_reads_the_prompt_only():
    task = ReversedAddition()
    assert task.well_formed("321+54=", "1234")
    assert not task.well_formed("321+54=", "123")
    assert not task.well_formed("321+54=", "12a4")


@pytest.mark.parametrize("mode,expected", [("reverse", "4321"), ("copy", "1234")])
def test_string_task_on_the_same_interface(mode, expected):
    task = StringTransform(mode)
    prompt = ("R" if mode == "reverse" else "C") + "1234="
    assert task.solve(prompt) == expected
    p = task.sample(5, 1, random.Random(0))[0]
    assert p.level == 5 and len(p.answer) == 5 and task.check(p, p.answer) and task.well_formed(p.prompt, p.answer)


def test_unknown_string_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        StringTransform("shuffle")


def test_forward_addition_writes_the_sum_most_significant_digit_first_at_a_fixed_width():
    task = ForwardAddition()
    p = task.format(123, 45)
    assert (p.prompt, p.answer, p.level) == ("123+45=", "0168", 3)
    assert task.format(999, 1).answer == "1000"  # the carry out of the top column fills the extra digit
    assert task.well_formed("123+45=", "0168") and not task.well_formed("123+45=", "168")


def test_forward_addition_levels_draw_the_operand_lengths_as_reversed_addition_does():
    forward, reversed_ = ForwardAddition(), ReversedAddition()
    for f, r in zip(forward.sample(6, 300, random.Random(3)), reversed_.sample(6, 300, random.Random(3))):
        a, b = f.prompt.rstrip("=").split("+")
        assert f.level == r.level == 6 and (a[::-1], b[::-1]) == tuple(r.prompt.rstrip("=").split("+"))
        assert int(f.answer) == int(a) + int(b) and forward.stratum(f.prompt) == reversed_.stratum(r.prompt)
