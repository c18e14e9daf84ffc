import random

import pytest

from pipeline.judges import ConsistencyJudge, JudgeInput, LengthJudge, MajorityJudge, NoisyOracleJudge, NoJudge, OracleJudge
from pipeline.model import load
from pipeline.sampling import greedy
from tasks.addition import ReversedAddition

TASK = ReversedAddition()


def _input(prompts, labels, truth=None, model=None, tok=None):
    return JudgeInput(TASK, prompts, labels, model, tok, seed=0, truth=truth)


def test_only_oracles_declare_ground_truth():
    assert OracleJudge.reads_ground_truth and NoisyOracleJudge.reads_ground_truth
    assert not any(j.reads_ground_truth for j in (NoJudge, LengthJudge, MajorityJudge, ConsistencyJudge))


def test_none_keeps_all_and_oracle_keeps_exactly_the_correct():
    prompts, truth = ["1+2=", "5+5="], ["30", "01"]
    labels = ["30", "11"]
    assert NoJudge().keep(_input(prompts, labels)) == [True, True]
    assert OracleJudge().keep(_input(prompts, labels, truth)) == [True, False]


def test_noisy_oracle_flips_about_p_of_decisions():
    problems = TASK.sample(3, 2000, random.Random(0))
    prompts, truth = [p.prompt for p in problems], [p.answer for p in problems]
    kept = NoisyOracleJudge(p=0.2).keep(_input(prompts, truth, truth))
    assert 0.75 < sum(kept) / len(kept) < 0.85
    with pytest.raises(ValueError):
        NoisyOracleJudge(p=1.5)


def test_length_judge_rejects_wrong_lengths():
    assert LengthJudge().keep(_input(["321+54=", "321+54="], ["8610", "861"])) == [True, False]


def test_majority_judge_keeps_labels_its_samples_agree_with(adder):
    model, tok = load(adder)
    prompts = [p.prompt for p in TASK.sample(1, 64, random.Random(1))]  # learned: 1-digit sums
    labels = greedy(model, tok, prompts)
    wrong = [str((int(a[0]) + 1) % 10) + a[1:] for a in labels]  # a label the model would not give
    judge = MajorityJudge(k=5, threshold=0.8, temperature=1.0)
    assert sum(judge.agreement(_input(prompts, labels, model=model, tok=tok))) / 64 > 0.9
    assert sum(judge.agreement(_input(prompts, wrong, model=model, tok=tok))) / 64 < 0.1
    assert sum(judge.keep(_input(prompts, labels, model=model, tok=tok))) >= 0.9 * 64
    assert not any(judge.keep(_input(prompts, wrong, model=model, tok=tok)))


def test_majority_judge_validates_its_settings():
    with pytest.raises(ValueError):
        MajorityJudge(k=0)


def test_consistency_judge_requires_the_swapped_problem_to_agree(adder):
    model, tok = load(adder)
    prompts = [p.prompt for p in TASK.sample(1, 64, random.Random(3)) if TASK.equivalents(p.prompt)]
    labels = greedy(model, tok, prompts)
    judge = ConsistencyJudge(min_confidence=0.5)
    kept = judge.keep(_input(prompts, labels, model=model, tok=tok))
    swapped = greedy(model, tok, [TASK.equivalents(p)[0] for p in prompts])
    # every kept label is also the model's answer to b + a
    assert all(s == label for s, label, k in zip(swapped, labels, kept) if k)
    assert sum(kept) >= 0.8 * len(prompts)


def test_addition_equivalents_swap_the_operands():
    assert TASK.equivalents("321+54=") == ["54+321="]
    assert TASK.equivalents("12+12=") == []
    assert TASK.solve("54+321=") == TASK.solve("321+54=")
