"""What a stage is handed: the run folder, the task, the held-out ladders, the champions so far."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from omegaconf import DictConfig

from pipeline.components.gate import most, right
from pipeline.components.scorers import Check, Scorer, TrueAnswers
from pipeline.core import plugins
from pipeline.core.logger import NoLogger
from pipeline.core.pools import Accumulate
from pipeline.core.records import R, Curation, Record, Recipe, Selected, TrainRecord, Verdict, Weaknesses, load
from pipeline.core.rundir import RunDir, write_json
from pipeline.core.truth import Truth
from pipeline.ml.data import load_joined
from pipeline.ml.evaluate import correctness, counts, frontier, per_level
from pipeline.ml.splits import Splits
from tasks import Problem, Task


def recorded_right(items: list[Problem], bits: str) -> dict[int, int]:
    """Right answers per level of recorded per-item answers (`bits`) on a ladder that shares its first levels with
    `items`; a level counts only where the recorded answers cover all of its items."""
    m = min(len(items), len(bits))
    whole, held = counts(items), counts(items[:m])
    return {lv: k for lv, k in right(items[:m], [b == "1" for b in bits[:m]]).items() if held[lv] == whole[lv]}


@dataclass
class Context:
    """One generation's view of the run. Everything it returns is read back from the run folder,
    so a resumed run sees exactly what an uninterrupted one would."""

    cfg: DictConfig
    run: RunDir
    task: Task
    splits: Splits
    device: torch.device
    logger: NoLogger
    truth: Truth
    scorer: Scorer = field(default_factory=TrueAnswers)  # how stages tell a right answer: true answers, or label-free
    data: Accumulate = field(default_factory=Accumulate)  # which earlier rounds the pool holds: all promoted, or the latest (`data=`)
    gen: int = 0
    _ladders: dict[tuple[str, int], list[Problem]] = field(default_factory=dict)  # (split, level) -> items, made on first use

    # -- folders ---------------------------------------------------------------------------
    def out(self, stage: str) -> Path:
        """This generation's folder for `stage`."""
        return self.run.stage_dir(self.gen, stage)

    def read(self, record: type[R], gen: int | None = None) -> R:
        """An earlier stage's record (this generation's unless `gen` is given)."""
        folder = self.run.stage_dir(self.gen if gen is None else gen, record.stage)
        if not (folder / record.file).is_file():
            raise FileNotFoundError(f"{folder / record.file} is missing: stage '{record.stage}' must run before this one")
        return load(record, folder)

    def maybe(self, record: type[R], gen: int | None = None) -> R | None:
        """The record of a stage that may not have run (this generation's unless `gen` is given); None when it did not."""
        folder = self.run.stage_dir(self.gen if gen is None else gen, record.stage)
        return load(record, folder) if (folder / record.file).is_file() else None

    def write(self, record: Record) -> None:
        """Write `record` as its stage's output of this generation."""
        write_json(self.out(record.stage) / record.file, record.to_json())

    # -- the champion ----------------------------------------------------------------------
    def promoted(self, gen: int) -> bool:
        """Whether generation `gen`'s successor replaced the champion (gen 0 is the seed)."""
        if gen == 0:
            return True
        verdict = self.maybe(Verdict, gen)
        return verdict is not None and verdict.promoted

    def champion_gens(self) -> list[int]:
        """Every generation whose model was champion before this one, the seed first: the run's champions."""
        return [g for g in range(self.gen) if self.promoted(g)]

    @property
    def champion_gen(self) -> int:
        """The generation whose model is the champion when this generation starts."""
        return self.champion_gens()[-1]

    @property
    def champion_dir(self) -> Path:
        return self.run.stage_dir(self.champion_gen, "train") / "model"

    def shown(self, recorded: Callable[[int], str | None], items: list[Problem]) -> dict[int, int]:
        """The most right answers any champion of the run had at each level of `items`, as a stage recorded its answers
        there (`recorded(gen)`: that champion's per-item answers, "1"/"0"): what the run has shown, the reference a
        successor's mastered levels are held to. A champion's ladder may have reached less far or further than `items`:
        ladders are levels 1..top in order, so its answers cover a prefix of `items` (or `items` a prefix of them), and
        count at the levels that prefix holds whole."""
        return most(recorded_right(items, recorded(g) or "") for g in self.champion_gens())

    def champion_frontier(self) -> int:
        """The champion's frontier on the dev ladder, as this generation's weaknesses stage measured it. Only the gate
        reads the test ladder: a stage steered by it would tune the successor to the items that judge it."""
        return self.read(Weaknesses).frontier

    def champion_recipe(self) -> Recipe:
        """The recipe that trained the champion (the config's `recipe:` while the seed is champion)."""
        if self.champion_gen == 0:
            return Recipe.of(self.cfg)
        return self.read(TrainRecord, gen=self.champion_gen).recipe

    def recipe(self) -> Recipe:
        """The recipe this generation curates and trains with: the select stage's choice when it ran,
        else the champion's recipe (so a loop without the research stages keeps one recipe)."""
        selected = self.maybe(Selected)
        return selected.recipe if selected is not None else self.champion_recipe()

    # -- data ------------------------------------------------------------------------------
    def rounds(self) -> list[Path]:
        """Every promoted generation's curated data before this one, oldest first (the seed's ground truth first)."""
        return [self.run.stage_dir(g, "curate") / "data" for g in range(self.gen) if self.promoted(g)]

    def pool_paths(self) -> list[Path]:
        """The folders `pool()` concatenates, oldest first, as the `data` policy chooses them."""
        return self.data.paths(self.rounds())

    def pool(self) -> Dataset:
        """Earlier training data: by default the seed's ground truth plus every promoted generation's curated round."""
        rows = load_joined(self.pool_paths())
        if rows is None:
            raise ValueError(f"no earlier data: every dataset of the pool is empty ({self.pool_paths()})")
        return rows

    def earlier(self) -> list[tuple[Dataset, float]]:
        """Earlier training data as training draws it: the `data` policy's groups, each with its share of the earlier part of a batch."""
        joined = [(group, load_joined(group.paths)) for group in self.data.groups(self.rounds())]
        return [(group.rows(rows), group.share) for group, rows in joined if rows is not None]

    @property
    def cap(self) -> int | None:
        """The ladder's optional top (`eval.max_level`): no ladder, round or gate goes past it. None: no ceiling."""
        return self.cfg.eval.max_level

    def ladder(self, split: str, levels: Iterable[int]) -> list[Problem]:
        """Held-out ground-truth items at each of `levels`, in that order (`test`: the gate only; `audit`: the shadow
        audit only; `dev`: everyone else). A level's items are made the first time the run asks for them, from (seed,
        split, level) alone: the same items whatever was asked before, in this process or before a resume."""
        out: list[Problem] = []
        for level in levels:
            if (split, level) not in self._ladders:
                self._ladders[split, level] = self.splits.ladder(self.task, split, [level], self.cfg.eval.items_per_level, self.cfg.seed)
            out += self._ladders[split, level]
        return out

    def climb(self, split: str, score: Callable[[list[Problem], int], list[list[bool]]], threshold: float, min_items: int,
              models: int = 1, through: int | None = None) -> tuple[list[Problem], list[list[bool]]]:
        """Levels 1, 2, ... of `split`, one at a time, until every model `score` answers for is `eval.beyond` judged levels
        (`min_items` items or more) past its frontier (`threshold`): the ladder follows the models instead of a fixed top.
        `score(items, offset)` gives one correctness list per model (`models` of them) for a level's items, `offset` the
        items before them. A level with no item in this split (1-character strings have ten prompts) is passed over.

        It stops early at the cap and at `ceiling(through)`: a label-free scorer that called every answer right would
        otherwise climb for ever. Each level is scored on its own, so a level's answers do
        not depend on how far the ladder goes. Returns the items (levels 1..top, in order) and each model's correctness."""
        beyond, top = self.cfg.eval.beyond, self.ceiling(self.gen if through is None else through)
        items: list[Problem] = []
        answers: list[list[bool]] = [[] for _ in range(models)]
        for level in range(1, top + 1):
            new = self.ladder(split, [level])
            if not new:
                continue
            answers = [a + g for a, g in zip(answers, score(new, len(items)), strict=True)]
            items += new
            n = counts(items)
            judged = [lv for lv in n if n[lv] >= min_items]
            if all(sum(lv > frontier(per_level(items, a), threshold, n, min_items) for lv in judged) >= beyond for a in answers):
                break
        return items, answers

    def ceiling(self, through: int) -> int:
        """The highest level a climb may reach: the cap when set, else twice the longest level any model of generations
        0..`through` was trained on, plus `eval.beyond`. A model rarely masters twice the length it saw."""
        trained = self.cfg.seed_model.levels
        for g in range(1, through + 1):
            curation = self.maybe(Curation, g)
            if curation is not None:
                trained = max([trained, *curation.levels])
        return min(2 * trained + self.cfg.eval.beyond, self.cap or 10**9)

    def dev_items(self, levels: Iterable[int], per_level: int) -> list[Problem]:
        """The first `per_level` dev items at each of `levels`: a small check that stays the same across generations."""
        return [p for lv in levels for p in self.ladder("dev", [lv])[:per_level]]

    # -- ground truth, counted ---------------------------------------------------------------
    def check(self, use: str) -> Check:
        """Compares answers with the true ones through the ledger, counted under `use` (truth.DECIDE or MEASURE)."""
        return lambda items, answers: self.truth.correct(items, answers, use)

    def correctness(self, model: torch.nn.Module, tok: Any, items: list[Problem], use: str, scorer: Scorer | None = None) -> list[bool]:
        """Per item, whether the model's greedy answer is right, by `scorer` (this run's by default)."""
        return correctness(model, tok, self.task, items, scorer or self.scorer, self.check(use))

    @classmethod
    def build(cls, cfg: DictConfig, run: RunDir, device: torch.device, logger: NoLogger, gen: int = 0) -> Context:
        """The context of a run from its config: the task, the splits, the ledger (`humans`), the scorer and the data policy."""
        allow = plugins.allowed(cfg)
        task = plugins.instantiate(cfg.task, allow)
        readers = cfg.humans.readers
        truth = Truth(task, None if readers is None else list(readers), cfg.humans.mode)
        return cls(cfg, run, task, Splits(**cfg.splits), device, logger, truth, plugins.instantiate(cfg.scorer, allow),
                   plugins.instantiate(cfg.data, allow), gen)

    def log(self, metrics: dict[str, Any]) -> None:
        self.logger.log({"gen/step": self.gen, **metrics})
