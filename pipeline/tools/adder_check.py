"""The "10-digit adder" check: a run's final champion on a+b with both operands drawn uniformly from
0..10^digits - 1 (the public benchmarks' distribution, unlike a ladder level, where the longer operand
has exactly that many digits and the other is shorter).

    python -m pipeline.tools.adder_check runs/gpu/<timestamp> [--digits 10] [--n 10000]

Beside the uniform sums it asks the long-carry cases (`long_carries`): sums whose carry runs through every column,
such as 9,999,999,999 + 1, which a uniform draw almost never contains and which no cut of the split labeler can
halve, so a model can pass the uniform check and still fail them. It reads the true answers only to measure, never to decide anything.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from pipeline.components.scorers import TrueAnswers
from pipeline.core import device as devices
from pipeline.core.rundir import read_json
from pipeline.core.truth import MEASURE, Truth
from pipeline.ml.evaluate import correctness
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from tasks.addition import ReversedAddition


def champion_dir(run: Path) -> Path:
    """The model folder of the run's last promoted generation (the seed when none was)."""
    promoted = [g["generation"] for g in read_json(run / "summary.json")["generations"] if g["promoted"]]
    return run / f"gen_{max(promoted, default=0)}" / "train" / "model"


def uniform_accuracy(model: torch.nn.Module, tok, digits: int, n: int, seed: int = 0) -> float:
    """Exact-match accuracy on `n` sums of two operands uniform in 0..10^digits - 1."""
    task, rng = ReversedAddition(), random.Random(f"adder-{digits}-{seed}")
    items = [task.format(rng.randrange(10**digits), rng.randrange(10**digits)) for _ in range(n)]
    truth = Truth(task)  # counted as measured, outside any run
    return sum(correctness(model, tok, task, items, TrueAnswers(), lambda its, ans: truth.correct(its, ans, MEASURE))) / n


def long_carries(digits: int) -> list[tuple[int, int]]:
    """Sums of at most `digits`-digit operands in which a carry starts in the lowest column and crosses every column
    above it: all nines plus one (and one plus all nines), all nines twice, and 5...5 + 4...45 (no column sums past 9
    without the carry from below), for every length 2..digits."""
    cases = []
    for d in range(2, digits + 1):
        nines = 10**d - 1
        cases += [(nines, 1), (1, nines), (nines, nines), (int("5" * d), int("4" * (d - 1) + "5")), (nines, 10 ** (d - 1) + 1)]
    return cases


def carry_failures(model: torch.nn.Module, tok, digits: int) -> tuple[int, list[str]]:
    """How many long-carry cases there are, and the ones the model answers wrong, each as `a + b = sum: answered x`."""
    task, cases = ReversedAddition(), long_carries(digits)
    items = [task.format(a, b) for a, b in cases]
    answers = greedy(model, tok, [p.prompt for p in items])
    right = Truth(task).correct(items, answers, MEASURE)  # counted as measured, outside any run
    return len(cases), [f"{a:,} + {b:,} = {a + b:,}: answered {ans[::-1]!r} (as written, reversed: {ans!r})" for (a, b), ans, ok in zip(cases, answers, right) if not ok]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--digits", type=int, default=10)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    folder = champion_dir(args.run)
    model, tok = load(folder, devices.pick(args.device))
    print(f"{folder}: {uniform_accuracy(model, tok, args.digits, args.n):.4f} exact on {args.n} sums of two uniform "
          f"{args.digits}-digit operands (0..{10**args.digits - 1})")
    n, wrong = carry_failures(model, tok, args.digits)
    print(f"long carries: {n - len(wrong)} of {n} right (lengths 2..{args.digits})")
    for line in wrong:
        print(f"  {line}")


if __name__ == "__main__":
    main()
