"""Peers: a label is kept when enough independently trained models give it (Lee et al. 2025's majority vote). No ground truth.

Lee et al. train five models from different seeds, keep an answer that enough of them give, and train every one
of them on what was kept, round after round. Here the champion votes with `members` peers: each is trained from
scratch, with a seed of its own, on the trusted earlier data (the seed's ground truth and the promoted rounds),
until it answers its own levels as well as the seed had to (`settle`, then `mastered`, checked against the
earlier data's labels, which the loop already holds: no new human label). Whenever the trusted data has grown since a
peer last trained (a round was promoted), it trains `steps` more steps with the new rows `new_share` of each batch, as
the champion did, so the peers keep pace with it. Why peers and not copies of the champion (`committee`): models
trained apart make different mistakes where they extrapolate. Measured on five copy-task seeds that each answered
69-88% of 6-character strings right: three or more of the five agreed on 958 of 1,000 answers, every one of them right,
where one model's confidence there was no guide (its surest labels were its least often right). Peers cost their
training: `members` seeds once, then `members` times a generation's training for every promoted round.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from datasets import Dataset

from pipeline.components.judges.base import JudgeInput
from pipeline.components.judges.committee import CommitteeJudge
from pipeline.core.rundir import atomic_dir, read_json, write_json
from pipeline.ml.model import build_model, load, save
from pipeline.ml.sampling import greedy
from pipeline.ml.training import encode, train

STATE = "peer.json"  # in each peer's folder: how many rows of the trusted data it has trained on


class PeersJudge(CommitteeJudge):
    """The committee's vote, cast by independently trained peers instead of copies of the champion."""

    def __init__(self, members: int = 4, min_agreement: float = 0.6, steps: int = 200, new_share: float = 0.5, lr: float = 1e-3,
                 batch_size: int = 128, seed_lr: float = 2e-3, seed_max_steps: int = 6000, settle: float = 0.5, mastered: float = 0.99,
                 check_rows: int = 100, require_format: bool = True) -> None:
        super().__init__(members=members, min_agreement=min_agreement, steps=steps, lr=lr, batch_size=batch_size, require_format=require_format)
        if not 0.0 < new_share <= 1.0 or not seed_lr > 0 or seed_max_steps < 1 or not 0.0 < settle <= mastered <= 1.0 or check_rows < 1:
            raise ValueError(f"peers judge needs 0 < new_share <= 1, seed_lr > 0, seed_max_steps >= 1, 0 < settle <= mastered <= 1 and "
                             f"check_rows >= 1 (got {new_share}, {seed_lr}, {seed_max_steps}, {settle}, {mastered}, {check_rows})")
        self.new_share, self.seed_lr, self.seed_max_steps = new_share, seed_lr, seed_max_steps
        self.settle, self.mastered, self.check_rows = settle, mastered, check_rows

    def committee(self, inp: JudgeInput) -> list[torch.nn.Module]:
        """The peers, each brought up to the trusted data it has not trained on yet (kept in `inp.workdir`)."""
        if inp.earlier is None or not len(inp.earlier):
            raise ValueError("the peers judge needs the earlier data (JudgeInput.earlier) to train its peers on")
        device = next(inp.model.parameters()).device
        settings = [self.members, self.steps, self.new_share, self.lr, self.batch_size, self.seed_lr, self.seed_max_steps, self.settle,
                    self.mastered, self.check_rows, inp.earlier["prompt"][0]]  # the first row stands for the run's seed data
        key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:10]
        return [self._peer(inp, i, inp.workdir / f"peers-{key}" / f"peer-{i}" if inp.workdir else None, device) for i in range(self.members)]

    def _peer(self, inp: JudgeInput, i: int, folder: Path | None, device: torch.device) -> torch.nn.Module:
        earlier = inp.earlier
        if folder is not None and (folder / STATE).is_file():
            model, _ = load(folder, device)
            seen = read_json(folder / STATE)["rows"]
        else:
            model, seen = self._from_scratch(inp, i, device), len(earlier)
        if seen < len(earlier):  # rounds promoted since it last trained: train on them as the champion did
            new, old = earlier.select(range(seen, len(earlier))), earlier.select(range(seen))
            train(model, [(self._encoded(inp, new), self.new_share), (self._encoded(inp, old), 1.0 - self.new_share)], steps=self.steps,
                  batch_size=self.batch_size, lr=self.lr, warmup=max(1, self.steps // 10), seed=inp.seed * 100 + i + 1,
                  description=f"peer {i + 1}")
        if folder is not None and (seen < len(earlier) or not (folder / STATE).is_file()):
            with atomic_dir(folder) as tmp:
                save(model, inp.tokenizer, tmp)
                write_json(tmp / STATE, {"rows": len(earlier)})
        return model

    def _from_scratch(self, inp: JudgeInput, i: int, device: torch.device) -> torch.nn.Module:
        """A model of the champion's shape with a seed of its own, trained on the trusted data until it answers every level
        of it: the peak lr held until each level's check rows reach `settle`, then decayed until they reach `mastered`."""
        c = inp.model.config
        seed = 7919 * (i + 1)
        model = build_model(inp.tokenizer, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, seed=seed).to(device)
        check = _rows_by_level(inp.earlier, self.check_rows)

        def reaches(bar: float):
            def at(step: int) -> bool:
                answers = greedy(model, inp.tokenizer, check["prompt"])
                per: dict[int, list[bool]] = {}
                for level, answer, label in zip(check["level"], answers, check["answer"]):
                    per.setdefault(level, []).append(answer == label)
                return all(sum(v) / len(v) >= bar for v in per.values())
            return at
        train(model, [(self._encoded(inp, inp.earlier), 1.0)], steps=self.seed_max_steps, batch_size=self.batch_size, lr=self.seed_lr,
              warmup=50, seed=seed, description=f"peer {i + 1} from scratch", learned=reaches(self.settle), finished=reaches(self.mastered))
        return model

    @staticmethod
    def _encoded(inp: JudgeInput, rows: Dataset):
        return encode(inp.tokenizer, rows["prompt"], rows["answer"])


def _rows_by_level(rows: Dataset, per_level: int) -> dict[str, list]:
    """The first `per_level` rows of each level: the check a peer must pass on the data it trains on."""
    taken: dict[int, int] = {}
    keep = []
    for j, level in enumerate(rows["level"]):
        if taken.get(level, 0) < per_level:
            taken[level] = taken.get(level, 0) + 1
            keep.append(j)
    return rows.select(keep)[:]
