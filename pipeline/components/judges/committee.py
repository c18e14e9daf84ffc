"""A committee: several models answer, and a label is kept only when enough of them give it. No ground truth.

Lee et al. 2025 vote across 5 independently trained models (kept: >= 4 of 5 agree). Training four more
seeds from scratch costs four seeds on a CPU; the committee here is the champion plus `members`
copies of it, each trained `steps` more steps on the trusted earlier data (the seed's ground truth and
earlier kept rounds, never this round) with its own seed. On the levels they were trained on, the
copies agree with the champion; one level past them, what a model answers is an extrapolation that a
few steps of other data order move a lot (measured on one seed: the copies scored 0.17-0.59 on 6-digit
items where the champion scored 0.46). Where they still agree, the answer is robust, and robust
answers are mostly right. Against the consistency judge on the same level-6 rounds it won on one seed
(79 labels at 0.962 vs 31 at 0.903) and lost on another (56 at 0.964 vs 90 at 0.989; docs/judges-and-labelers.md
links the judge tables). With a larger model (the GPU preset) it kept 26-65% of each round at >= 0.9997. The copies are kept in the run's `judge/` folder, keyed by the generation and settings,
so the pilots' round and curate's round share them.
"""
from __future__ import annotations

import copy
import hashlib
import json

import torch

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.core.rundir import atomic_dir
from pipeline.ml.model import load, save
from pipeline.ml.sampling import greedy
from pipeline.ml.training import encode, train


class CommitteeJudge(Judge):
    threshold_field = "min_agreement"

    def __init__(self, members: int = 4, min_agreement: float = 1.0, steps: int = 50, lr: float = 1e-3, batch_size: int = 128,
                 require_format: bool = True) -> None:
        if members < 1 or steps < 1 or batch_size < 1 or not 0.0 < min_agreement <= 1.0 or not lr > 0:
            raise ValueError(f"committee judge needs members >= 1, steps >= 1, batch_size >= 1, lr > 0 and 0 < min_agreement <= 1 "
                             f"(got {members}, {steps}, {batch_size}, {lr}, {min_agreement})")
        self.members, self.min_agreement, self.steps, self.lr, self.batch_size = members, min_agreement, steps, lr, batch_size
        self.require_format = require_format

    def uses(self) -> frozenset[str]:
        return frozenset({"well_formed"} if self.require_format else ())

    def keep(self, inp: JudgeInput) -> list[bool]:
        votes = [0] * len(inp.prompts)
        for member in [inp.model, *self.committee(inp)]:  # the champion votes too: a label sampled at a temperature may not be its answer
            for i, answer in enumerate(greedy(member, inp.tokenizer, inp.prompts)):
                votes[i] += answer == inp.labels[i]
        need = self.min_agreement * (self.members + 1)
        return [v >= need - 1e-9 and (not self.require_format or inp.task.well_formed(p, label))
                for v, p, label in zip(votes, inp.prompts, inp.labels)]

    def committee(self, inp: JudgeInput) -> list[torch.nn.Module]:
        """The members: copies of the champion trained further on the earlier data, each with its own seed;
        built once per champion and settings, then read back from `inp.workdir`."""
        if inp.earlier is None or not len(inp.earlier):
            raise ValueError("the committee judge needs the earlier data (JudgeInput.earlier) to train its members on")
        device = next(inp.model.parameters()).device
        key = hashlib.sha256(json.dumps([self.members, self.steps, self.lr, self.batch_size, inp.seed]).encode()).hexdigest()[:10]
        folder = inp.workdir / f"committee-{key}" if inp.workdir else None
        if folder is not None and folder.is_dir():
            return [load(folder / f"member-{i}", device)[0] for i in range(self.members)]
        data = encode(inp.tokenizer, inp.earlier["prompt"], inp.earlier["answer"])
        members = []
        for i in range(self.members):
            member = copy.deepcopy(inp.model)
            train(member, [(data, 1.0)], steps=self.steps, batch_size=self.batch_size, lr=self.lr, warmup=max(1, self.steps // 10),
                  seed=inp.seed * 100 + i + 1, description=f"committee member {i + 1}")
            members.append(member)
        if folder is not None:
            with atomic_dir(folder) as tmp:
                for i, member in enumerate(members):
                    save(member, inp.tokenizer, tmp / f"member-{i}")
        return members
