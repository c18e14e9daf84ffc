"""Labelers: the label a problem gets from the champion's answers to its equivalent forms."""
from pipeline.components.judges import JudgeInput, LengthJudge, OracleJudge
from pipeline.components.labelers import Equivalents, Greedy, Split
from tasks.addition import ReversedAddition

TASK = ReversedAddition()
# reversed notation: "54321+1=" is 12345 + 1 = 12346 -> "643210"; its swapped form is "1+54321="
ANSWERS = {
    "54321+1=": "54321",    # the long operand first: the champion stops one digit short (ill-formed)
    "1+54321=": "643210",   # the same sum asked the other way round: right
    "12+34=": "460",        # right, and right again swapped
    "34+12=": "460",
    "46+0=": "460",         # 12 + 34 with both columns moved into one operand: 46 + 0, both orders
    "0+46=": "460",
    "5+5=": "01",           # no other form (a + a)
    "9+99=": "801",         # 9 + 99 = 108: right as posed, wrong (but well formed) swapped
    "99+9=": "810",
}


def ask(prompts: list[str]) -> list[str]:
    return [ANSWERS[p] for p in prompts]


def _inp(prompts: list[str], truth: list[str] | None = None) -> JudgeInput:
    return JudgeInput(TASK, prompts, ask(prompts), None, None, seed=0, truth=truth)


def test_greedy_keeps_the_answer_as_posed():
    prompts = ["54321+1=", "12+34="]
    assert Greedy().label(LengthJudge(), _inp(prompts), ask) == (["54321", "460"], [False, True])


def test_equivalents_label_a_problem_from_the_form_the_judge_keeps():
    prompts = ["54321+1=", "12+34=", "5+5="]
    labels, kept = Equivalents().label(LengthJudge(), _inp(prompts), ask)
    # the ill-formed answer to the long-first order is replaced by the swapped order's answer
    assert labels == ["643210", "460", "01"]
    assert kept == [True, True, True]


def test_equivalents_drop_a_problem_whose_kept_forms_disagree():
    labels, kept = Equivalents().label(LengthJudge(), _inp(["9+99="]), ask)
    assert kept == [False]


def test_a_judge_that_reads_the_truth_reads_the_problems_own_answer_on_every_form():
    prompts = ["54321+1=", "9+99="]
    truth = [TASK.solve(p) for p in prompts]  # the test's own arithmetic, not the code's output
    assert truth == ["643210", "801"]
    labels, kept = Equivalents().label(OracleJudge(), _inp(prompts, truth), ask)
    # the wrong swapped answer is not kept, so it cannot clash with the right one
    assert labels == ["643210", "801"] and kept == [True, True]


def test_split_labels_a_problem_with_the_answer_its_halves_make():
    # 4,321 + 5,618 ("1234+8165="): column sums 9, 3, 9, 9, cut below the hundreds: 21 + 18 ("12+81=") and 43 + 56 ("34+65=")
    # 9,035 + 7 ("5309+7="): cut below the hundreds too: 35 + 7 ("53+7="), and only 90 reaches above
    # 95 + 95 ("59+59="): column sums 10 and 18, no cut: the answer as posed stays
    halves = {"12+81=": "930", "34+65=": "990", "53+7=": "240"}
    prompts = ["1234+8165=", "5309+7=", "59+59="]
    truth = ["93990", "24090", "091"]  # 9,939, 9,042 and 190 written out by hand, reversed
    inp = JudgeInput(TASK, prompts, ["00000", "00000", "091"], None, None, seed=0, truth=truth)
    labels, kept = Split().label(LengthJudge(), inp, lambda qs: [halves[q] for q in qs])
    assert labels == truth and kept == [True, True, True]


def test_split_keeps_the_answer_as_posed_when_the_halves_answers_cannot_be_joined():
    halves = {"12+81=": "93", "34+65=": "990"}  # the low half's answer is one digit short
    labels, _ = Split().label(LengthJudge(), JudgeInput(TASK, ["1234+8165="], ["12345"], None, None, seed=0), lambda qs: [halves[q] for q in qs])
    assert labels == ["12345"]
