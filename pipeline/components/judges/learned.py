"""A learned verifier: a small model that reads (prompt, label) and marks each character of the label
right ("Y") or, where it is wrong, names the right one. No ground truth past the seed's levels.

It is trained on the first `max_rows` rows of the trusted earlier data, oldest first, which are the
seed's own ground truth (so it is trained once per run and never sees a level past the seed's):
each true answer as it is (every mark "Y"), and corruptions of it of the kinds the
champion makes (a digit off by one, as a wrong carry gives; a digit replaced; a digit dropped and
the rest shifted), marked where they differ from it. A label is kept when the verifier gives
every mark "Y" probability >= `threshold`. Like the champion it is a NoPE decoder, so what it learned
on short problems may carry one level further; the judge table measures whether it does.
Checking an addition is as hard to learn as doing one, so it trains about as long as the seed does.
The trained verifier is kept in the run's `judge/` folder, keyed by its settings and the data it saw.
"""
from __future__ import annotations

import hashlib
import json
import random

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.components.judges.base import Judge, JudgeInput
from pipeline.core.rundir import atomic_dir
from pipeline.ml.model import build_model, build_tokenizer, load, save
from pipeline.ml.sampling import confidence
from pipeline.ml.training import encode, train

SEP, RIGHT, WRONG = "|", "Y", "N"  # WRONG: a label character past the end of the truth


def corrupt(answer: str, alphabet: str, rng: random.Random) -> str:
    """One plausible error: a digit off by one (a wrong carry), replaced, or dropped with the rest shifted."""
    digits = [c for c in alphabet if c.isdigit()]
    i = rng.randrange(len(answer))
    kind = rng.choice(("carry", "replace", "drop")) if len(answer) > 1 else rng.choice(("carry", "replace"))
    if kind == "drop":
        return answer[:i] + answer[i + 1:] + rng.choice(digits)
    if kind == "carry" and answer[i].isdigit():
        return answer[:i] + str((int(answer[i]) + rng.choice((-1, 1))) % 10) + answer[i + 1:]
    return answer[:i] + rng.choice([d for d in digits if d != answer[i]] or digits) + answer[i + 1:]


def marks(label: str, truth: str) -> str:
    """'Y' where the label's character is right; where it is wrong, the right character ('N' past the
    end of the truth). Naming the right character carries more signal than a bare "wrong": the
    verifier must learn the sum to check it, and learns it faster this way."""
    return "".join(RIGHT if i < len(truth) and c == truth[i] else truth[i] if i < len(truth) else WRONG for i, c in enumerate(label))


class LearnedJudge(Judge):
    threshold_field = "threshold"

    def __init__(self, threshold: float = 0.9, hidden: int = 64, layers: int = 4, heads: int = 4, steps: int = 1600,
                 batch_size: int = 256, lr: float = 3e-3, negatives: int = 2, max_rows: int = 50000, require_format: bool = True) -> None:
        if not 0.0 < threshold <= 1.0 or min(hidden, layers, heads, steps, batch_size, negatives, max_rows) < 1 or not lr > 0:
            raise ValueError("learned judge needs 0 < threshold <= 1, lr > 0 and positive sizes")
        self.threshold, self.hidden, self.layers, self.heads = threshold, hidden, layers, heads
        self.steps, self.batch_size, self.lr, self.negatives, self.max_rows = steps, batch_size, lr, negatives, max_rows
        self.require_format = require_format

    def uses(self) -> frozenset[str]:
        """The alphabet always: the verifier's tokenizer and its corruptions are made from it."""
        return frozenset({"alphabet"} | ({"well_formed"} if self.require_format else set()))

    def keep(self, inp: JudgeInput) -> list[bool]:
        model, tok = self.verifier(inp)
        sure = confidence(model, tok, [p + label + SEP for p, label in zip(inp.prompts, inp.labels)], [RIGHT * len(label) for label in inp.labels])
        return [s >= self.threshold and (not self.require_format or inp.task.well_formed(p, label))
                for s, p, label in zip(sure, inp.prompts, inp.labels)]

    def verifier(self, inp: JudgeInput) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
        """Train the verifier on the earlier data and its corruptions (or read it back from `inp.workdir`)."""
        if inp.earlier is None or not len(inp.earlier):
            raise ValueError("the learned judge needs the earlier data (JudgeInput.earlier) to train on")
        device = next(inp.model.parameters()).device
        rows = inp.earlier[: self.max_rows]  # oldest first: the seed's ground truth
        seen = hashlib.sha256("\n".join(rows["prompt"]).encode()).hexdigest()
        settings = [self.hidden, self.layers, self.heads, self.steps, self.batch_size, self.lr, self.negatives, seen]
        key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:10]
        folder = inp.workdir / f"verifier-{key}" if inp.workdir else None
        if folder is not None and (folder / "model.safetensors").is_file():
            return load(folder, device)
        tok = build_tokenizer(inp.task.alphabet + SEP + RIGHT + WRONG)
        rng = random.Random(f"verifier-{seen}")
        prompts, targets = [], []
        for prompt, answer in zip(rows["prompt"], rows["answer"]):
            for label in [answer] + [corrupt(answer, inp.task.alphabet, rng) for _ in range(self.negatives)]:
                prompts.append(prompt + label + SEP)
                targets.append(marks(label, answer))
        seed = int(seen[:8], 16)  # the same verifier wherever it is trained on the same data
        model = build_model(tok, self.hidden, self.layers, self.heads, seed=seed).to(device)
        train(model, [(encode(tok, prompts, targets), 1.0)], steps=self.steps, batch_size=self.batch_size, lr=self.lr,
              warmup=max(1, self.steps // 20), seed=seed, description="verifier")
        if folder is not None:
            with atomic_dir(folder) as tmp:
                save(model, tok, tmp)
        return model, tok
