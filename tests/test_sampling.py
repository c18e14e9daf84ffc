import random

from pipeline.ml.model import load
from pipeline.ml.sampling import generate
from tasks.addition import ReversedAddition


def test_batched_answers_equal_one_at_a_time_answers(adder):
    """Left padding must not change a single answer: prompts of mixed lengths in one batch."""
    model, tok = load(adder)
    task = ReversedAddition()
    rng = random.Random(5)
    prompts = [p.prompt for lv in (1, 2, 3) for p in task.sample(lv, 8, rng)]
    rng.shuffle(prompts)
    batched = generate(model, tok, prompts, batch_size=64)
    single = [generate(model, tok, [p], batch_size=1)[0] for p in prompts]
    assert batched == single


def test_temperature_sampling_is_seeded_and_varied(adder):
    model, tok = load(adder)
    prompts = [p.prompt for p in ReversedAddition().sample(3, 16, random.Random(6))]
    a = generate(model, tok, prompts, temperature=1.5, num_samples=4, seed=1)
    b = generate(model, tok, prompts, temperature=1.5, num_samples=4, seed=1)
    assert a == b and all(len(s) == 4 for s in a)
    assert any(len(set(s)) > 1 for s in a)  # at a high temperature the samples disagree somewhere


def test_confidence_is_high_for_the_models_answer_and_low_for_another(adder):
    from pipeline.ml.sampling import confidence, greedy

    model, tok = load(adder)
    prompts = [p.prompt for p in ReversedAddition().sample(1, 32, random.Random(8))]
    answers = greedy(model, tok, prompts)
    wrong = [str((int(a[0]) + 5) % 10) + a[1:] for a in answers]
    sure, unsure = confidence(model, tok, prompts, answers), confidence(model, tok, prompts, wrong)
    assert all(0.0 <= c <= 1.0 for c in sure + unsure)
    assert sum(sure) / 32 > 0.8 and max(unsure) < 0.2
