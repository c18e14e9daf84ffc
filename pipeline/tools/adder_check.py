"""The "10-digit adder" check: a run's final champion on a+b with both operands drawn uniformly from
0..10^digits - 1 (the public benchmarks' distribution, unlike a ladder level, where the longer operand
has exactly that many digits and the other is shorter).

    python -m pipeline.tools.adder_check runs/gpu/<timestamp> [--digits 10] [--n 10000]

It reads the true answers only to measure, never to decide anything.
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


if __name__ == "__main__":
    main()
