import random

import pytest
import torch

from pipeline.components.judges import (
    AnyOf,
    CommitteeJudge,
    ConsistencyJudge,
    JudgeInput,
    LengthJudge,
    MajorityJudge,
    NoisyOracleJudge,
    NoJudge,
    OracleJudge,
    SplitJudge,
)
from pipeline.components.scorers import SplitCheck
from pipeline.core.rundir import read_json
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from tasks.addition import ReversedAddition

TASK = ReversedAddition()


def _input(prompts, labels, truth=None, model=None, tok=None):
    return JudgeInput(TASK, prompts, labels, model, tok, seed=0, truth=truth)


def test_only_oracles_declare_ground_truth():
    assert OracleJudge.reads_ground_truth and NoisyOracleJudge.reads_ground_truth
    assert not any(j.reads_ground_truth for j in (NoJudge, LengthJudge, MajorityJudge, ConsistencyJudge, SplitJudge))


def test_none_keeps_all_and_oracle_keeps_exactly_the_correct():
    prompts, truth = ["1+2=", "5+5="], ["30", "01"]
    labels = ["30", "11"]
    assert NoJudge().keep(_input(prompts, labels)) == [True, True]
    assert OracleJudge().keep(_input(prompts, labels, truth)) == [True, False]


class _Keeps(LengthJudge):
    """A stand-in judge that keeps the listed prompts only."""

    def __init__(self, *prompts):
        self.prompts = set(prompts)

    def keep(self, inp):
        return [p in self.prompts for p in inp.prompts]


def test_any_of_keeps_what_either_judge_keeps_and_passes_a_threshold_to_both():
    prompts, labels = ["1+2=", "5+5=", "12+34="], ["30", "01", "460"]
    assert AnyOf([_Keeps("1+2="), _Keeps("12+34=")]).keep(_input(prompts, labels)) == [True, False, True]
    assert AnyOf([_Keeps(), _Keeps()]).keep(_input(prompts, labels)) == [False, False, False]
    strict = AnyOf([ConsistencyJudge(min_confidence=0.9), LengthJudge(), CommitteeJudge(min_agreement=0.8)]).with_threshold(0.999)
    assert [getattr(j, j.threshold_field) for j in strict.judges if j.threshold_field] == [0.999, 0.999]
    assert strict.threshold == 0.999 and isinstance(strict.judges[1], LengthJudge)


def test_any_of_refuses_a_judge_that_reads_the_truth():
    with pytest.raises(ValueError, match="label-free"):
        AnyOf([LengthJudge(), OracleJudge()])
    with pytest.raises(ValueError):
        AnyOf([])


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


def test_addition_equivalents_swap_the_operands_and_move_each_column_into_one_operand():
    # 123 + 45: no column reaches 10, so everything moves into one operand: 168 + 0 (reversed "861", "0")
    assert TASK.equivalents("321+54=") == ["54+321=", "861+0=", "0+861="]
    # 1,876 + 5,432: columns (units first) 8, 10, 12, 6 -> 6,998 + 310 (reversed "8996", "013")
    assert TASK.equivalents("6781+2345=") == ["2345+6781=", "8996+013=", "013+8996="]
    assert TASK.equivalents("12+12=") == ["24+0=", "0+24="]  # the same operand twice: no swap, but 42 + 0
    # 9,876 + 5,432 and 9 + 99: the top column reaches 10, so the moved form's operand is no shorter: not listed
    assert TASK.equivalents("6789+2345=") == ["2345+6789="]
    assert TASK.equivalents("9+99=") == ["99+9="]


def test_addition_equivalents_have_the_same_answer_and_a_shorter_operand():
    problems = [p for level in range(1, 9) for p in TASK.sample(level, 200, random.Random(level))]
    shorter = 0
    for p in problems:
        a, b = p.prompt.rstrip("=").split("+")
        for form in TASK.equivalents(p.prompt):
            assert TASK.solve(form) == p.answer and TASK.well_formed(form, p.answer), (p.prompt, form)
            x, y = form.rstrip("=").split("+")
            assert max(len(x), len(y)) == max(len(a), len(b)) and min(len(x), len(y)) <= min(len(a), len(b))
            shorter += min(len(x), len(y)) < min(len(a), len(b))
    assert shorter > len(problems) // 4  # the moved forms exist for many problems, not a corner case


def test_addition_parts_cut_where_no_carry_crosses():
    # 1,234,567 + 7,654,321: every column sums to 8, so the cut nearest the middle: 567 + 321 = 888 below it,
    # 1,234 + 7,654 = 8,888 above it (reversed, zero-padded to one digit more than the longer operand)
    assert TASK.parts("7654321+1234567=", "88888880") == [("765+123=", "8880"), ("4321+4567=", "88880")]
    # 1,234 + 5: the units column sums to 9, so the cut is above the tens: 34 + 5 below, and above it only
    # 1,234's own digits, with nothing to ask; a label that changes them is refused outright
    assert TASK.parts("4321+5=", "93210") == [("43+5=", "930")]
    assert TASK.parts("4321+5=", "93220") is None
    # the low operands lose the zeros the cut leaves on top: 4,007 + 3,001 cut below the hundreds: 7 + 1, 40 + 30
    assert TASK.parts("7004+1003=", "80070") == [("7+1=", "80"), ("04+03=", "070")]
    assert TASK.parts("9+9=", "81") == []  # one column: nothing shorter to ask
    assert TASK.parts("99+99=", "891") == []  # every column carries: no cut is safe
    assert TASK.parts("12+34=", "46") is None  # the wrong length
    assert TASK.parts("12+34=", "46=") is None  # the right length, but not a number (a model may answer anything)


def test_addition_parts_hold_for_the_right_answer_and_expose_a_wrong_digit():
    rng = random.Random(5)
    problems = [p for level in range(2, 11) for p in TASK.sample(level, 150, rng)]
    split = 0
    for p in problems:
        parts = TASK.parts(p.prompt, p.answer)
        assert parts is not None  # the right answer is never refuted
        if not parts:
            continue
        split += 1
        width = max(map(len, p.prompt.rstrip("=").split("+")))
        for prompt, implied in parts:
            assert TASK.solve(prompt) == implied, (p.prompt, prompt)
            assert max(map(len, prompt.rstrip("=").split("+"))) < width
        i = rng.randrange(len(p.answer))
        wrong = p.answer[:i] + str((int(p.answer[i]) + rng.randrange(1, 10)) % 10) + p.answer[i + 1:]
        wrong_parts = TASK.parts(p.prompt, wrong)
        assert wrong_parts is None or any(TASK.solve(q) != a for q, a in wrong_parts), (p.prompt, wrong)
        assert wrong_parts is None or len(wrong_parts) == len(parts)  # the cut is the prompt's, not the answer's
    assert split > 0.8 * len(problems)


def _tens_off_by_one(answer: str) -> str:
    """A 1- or 2-digit problem's answer with its tens digit off by one, as a wrong carry gives."""
    return answer[:-2] + str((int(answer[-2]) + 1) % 10) + answer[-1]


def test_split_judge_keeps_right_labels_and_drops_wrong_ones_through_easier_problems(adder):
    """The adder knows 1-digit sums only; 2-digit problems cut into 1-digit ones, so it can vouch for their labels."""
    model, tok = load(adder)
    problems = [p for p in TASK.sample(2, 200, random.Random(4)) if TASK.parts(p.prompt, p.answer)]
    right = [p.answer for p in problems]
    wrong = [_tens_off_by_one(a) for a in right]
    prompts = [p.prompt for p in problems]
    judge = SplitJudge(min_confidence=0.5)  # the tiny adder is right on 1-digit sums but only 0.89-0.96 sure of them
    assert sum(judge.keep(_input(prompts, right, model=model, tok=tok))) >= 0.9 * len(problems)
    assert not any(judge.keep(_input(prompts, wrong, model=model, tok=tok)))
    with pytest.raises(ValueError, match="min_confidence"):
        SplitJudge(min_confidence=1.5)


def test_addition_pieces_answered_right_join_into_the_right_answer_and_are_what_parts_asks():
    rng = random.Random(6)
    problems = [p for level in range(2, 11) for p in TASK.sample(level, 150, rng)]
    joined = 0
    for p in problems:
        pieces = TASK.pieces(p.prompt)
        if not pieces:
            assert TASK.join(p.prompt, []) is None and TASK.parts(p.prompt, p.answer) == []
            continue
        joined += 1
        assert TASK.join(p.prompt, [TASK.solve(q) for q in pieces]) == p.answer, p.prompt
        assert [q for q, _ in TASK.parts(p.prompt, p.answer)] == pieces
        low = TASK.solve(pieces[0])  # a low sum one too many: a carry over the cut, or a wrong digit below it
        off = TASK.join(p.prompt, [str(int(low[::-1]) + 1)[::-1].ljust(len(low), "0")[:len(low)], *map(TASK.solve, pieces[1:])])
        assert off != p.answer
    assert joined > 0.8 * len(problems)


def test_split_scorer_leaves_problems_without_a_cut_to_self_consistency(adder):
    """A gate scoring every level needs a verdict on 1-digit problems too, which cannot be cut."""
    model, tok = load(adder)
    items = TASK.sample(1, 60, random.Random(6)) + TASK.sample(2, 60, random.Random(7))
    right = [p.answer for p in items]
    wrong = [_tens_off_by_one(a) for a in right]
    scorer = SplitCheck(min_confidence=0.5)
    scored = scorer.score(model, tok, TASK, items, right, None)
    assert sum(scored[:60]) >= 54  # 1-digit problems: no cut, scored by self-consistency, which the adder passes
    cut = [s for s, p in zip(scored[60:], items[60:]) if TASK.parts(p.prompt, p.answer)]
    assert len(cut) >= 20 and all(cut)  # 2-digit problems the adder never learnt, vouched for by their 1-digit halves
    assert not any(scorer.score(model, tok, TASK, items, wrong, None))


def test_committee_keeps_what_its_members_agree_on_and_reuses_them(adder, tmp_path):
    from datasets import Dataset

    from pipeline.components.judges import CommitteeJudge

    model, tok = load(adder)
    earlier = TASK.sample(1, 2000, random.Random(5))  # what the adder was trained on: 1-digit sums
    rows = Dataset.from_dict({"prompt": [p.prompt for p in earlier], "answer": [p.answer for p in earlier]})
    judge = CommitteeJudge(members=3, steps=10, lr=1e-3, batch_size=32)

    def keep(level: int, corrupt: bool = False, workdir=tmp_path / "judge") -> list[bool]:
        prompts = [p.prompt for p in TASK.sample(level, 64, random.Random(level))]
        labels = greedy(model, tok, prompts)
        if corrupt:
            labels = [str((int(a[0]) + 1) % 10) + a[1:] for a in labels]
        return judge.keep(JudgeInput(TASK, prompts, labels, model, tok, seed=7, earlier=rows, workdir=workdir))

    learned, unlearned = keep(1), keep(3)
    # the members mostly agree with the champion where it was trained (43 of 64 on an AVX-512 CPU, at least 45 on the AVX2 ones), and
    # disagree with it where it extrapolates
    assert sum(unlearned) < sum(learned) < 64 and sum(learned) > 64 / 2
    assert not any(keep(1, corrupt=True))  # a label nobody gives is never kept
    members = sorted((tmp_path / "judge").glob("committee-*/member-*"))
    assert len(members) == 3
    weights = [load(m)[0].model.embed_tokens.weight for m in members] + [model.model.embed_tokens.weight]
    assert all(not torch.equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1:])  # each trained on with its own seed
    stamps = [m.stat().st_mtime_ns for m in members]
    assert keep(1) == learned == keep(1, workdir=None)  # read back, or trained again in memory: the same votes
    assert [m.stat().st_mtime_ns for m in members] == stamps  # read back, not written again
    with pytest.raises(ValueError, match="earlier data"):
        judge.keep(JudgeInput(TASK, ["1+2="], ["30"], model, tok, seed=0))


def test_corruptions_are_the_errors_a_champion_makes_and_marks_point_at_them():
    from pipeline.components.judges.learned import corrupt, marks

    rng = random.Random(0)
    for p in TASK.sample(4, 200, rng):
        bad = corrupt(p.answer, TASK.alphabet, rng)
        assert bad != p.answer and len(bad) == len(p.answer) and set(bad) <= set("0123456789")
        m = marks(bad, p.answer)
        assert all((c == "Y") == (x == y) for c, x, y in zip(m, bad, p.answer)) and m != "Y" * len(m)
        assert all(c == y for c, x, y in zip(m, bad, p.answer) if x != y)  # a wrong character is marked with the right one
    assert marks("8610", "8610") == "YYYY" and marks("8710", "8610") == "Y6YY"


def test_learned_verifier_tells_right_labels_from_corrupted_ones(tmp_path, adder):
    from datasets import Dataset

    from pipeline.components.judges import LearnedJudge
    from pipeline.components.judges.learned import corrupt

    rng = random.Random(1)
    earlier = TASK.sample(1, 3000, rng)  # 1-digit sums: 100 problems, few enough to learn to check in a few hundred steps
    rows = Dataset.from_dict({"prompt": [p.prompt for p in earlier], "answer": [p.answer for p in earlier]})
    judge = LearnedJudge(threshold=0.5, hidden=64, layers=2, heads=4, steps=400, batch_size=64, negatives=1)
    probe = TASK.sample(1, 200, random.Random(2))
    prompts = [p.prompt for p in probe]
    right, wrong = [p.answer for p in probe], [corrupt(p.answer, TASK.alphabet, rng) for p in probe]
    model, tok = load(adder)  # the champion: the verifier is its own model, on the champion's device
    inp = lambda labels: JudgeInput(TASK, prompts, labels, model, tok, seed=0, earlier=rows, workdir=tmp_path)  # noqa: E731
    kept_right, kept_wrong = sum(judge.keep(inp(right))), sum(judge.keep(inp(wrong)))
    assert kept_right > 0.9 * len(probe) and kept_wrong < 0.5 * len(probe), (kept_right, kept_wrong)  # measured: 200 and 70
    assert len(list(tmp_path.glob("verifier-*/model.safetensors"))) == 1  # trained once, kept for the next call


def test_peers_are_trained_apart_vote_with_the_champion_and_follow_the_promoted_rounds(adder, tmp_path):
    from datasets import Dataset

    from pipeline.components.judges import PeersJudge

    model, tok = load(adder)
    earlier = TASK.sample(1, 2000, random.Random(5))  # the champion's trusted data: 1-digit sums
    rows = Dataset.from_dict({"prompt": [p.prompt for p in earlier], "answer": [p.answer for p in earlier], "level": [1] * len(earlier)})
    judge = PeersJudge(members=2, min_agreement=1.0, steps=20, lr=1e-3, batch_size=64, seed_lr=3e-3, seed_max_steps=600, check_rows=100)
    prompts = [p.prompt for p in TASK.sample(1, 64, random.Random(1))]
    labels = greedy(model, tok, prompts)

    def keep(data: Dataset, given: list[str]) -> list[bool]:
        return judge.keep(JudgeInput(TASK, prompts, given, model, tok, seed=3, earlier=data, workdir=tmp_path / "judge"))

    kept = keep(rows, labels)
    assert sum(kept) >= 60  # every peer learnt the 1-digit sums it was trained on, so all three give the champion's answers
    assert not any(keep(rows, [str((int(a[0]) + 1) % 10) + a[1:] for a in labels]))  # a label no peer gives is never kept
    peers = sorted((tmp_path / "judge").glob("peers-*/peer-*"))
    assert len(peers) == 2 and all(read_json(p / "peer.json") == {"rows": len(rows)} for p in peers)
    flat = [torch.cat([w.flatten() for w in load(p)[0].parameters()]) for p in peers]
    champion = torch.cat([w.flatten() for w in model.parameters()])
    for w in flat:  # trained from their own initialisation, not copied from the champion: far from it and from each other
        assert (w - champion).norm() > 0.5 * champion.norm()
    assert (flat[0] - flat[1]).norm() > 0.5 * champion.norm()
    stamps = [p.stat().st_mtime_ns for p in peers]
    keep(rows, labels)
    assert [p.stat().st_mtime_ns for p in peers] == stamps  # read back, not trained again
    promoted = TASK.sample(2, 200, random.Random(9))  # a round the champion was promoted on
    grown = Dataset.from_dict({k: list(rows[k]) + v for k, v in {"prompt": [p.prompt for p in promoted], "answer": [p.answer for p in promoted],
                                                         "level": [2] * len(promoted)}.items()})
    keep(grown, labels)
    peers = sorted((tmp_path / "judge").glob("peers-*/peer-*"))
    assert all(read_json(p / "peer.json") == {"rows": len(grown)} for p in peers)
    after = [torch.cat([w.flatten() for w in load(p)[0].parameters()]) for p in peers]
    assert all(not torch.equal(a, b) for a, b in zip(after, flat))  # each trained on the new round
