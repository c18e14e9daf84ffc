"""Typed records of what stages hand each other through the run folder: one dataclass per JSON file.

A record class names its stage and file (`stage`, `file`), writes exactly the JSON keys the run folder holds
(docs/run-folder.md: resumed runs, tools and reports read these files) and loads from them, so no stage looks
another's output up by a string key. Loading is strict: a key the record does not know is an error that names it,
so a typo or a renamed key fails where the file is read instead of turning into a default stages later. A key that
older or partial records may lack has a default; an `optional` field's key is written only when it has a value, as
the stage that writes it always did.

Keys that one variant of a stage adds (`UntilLearned`'s `cap`, `learned_at` and `checks`; the controlled gate's
`control`) are named in the record's `extras` and kept as they are in its `details` dict. No other stage reads them,
and a field for each would be written by every variant, or need a marker for "absent" next to a null: these
files tell a key that is absent from one that is null. Any other unknown key is still an error. Generation 0's
train.json and audit.json hold other keys than a generation's (the seed has no recipe to mix or label, no champion
and no verdict), so they are records of their own: `SeedTraining` and `SeedAudit`.

A stage reads another's output with `Context.read(Record)` (or `maybe`) and writes its own with `Context.write`;
tools without a context use `load(Record, folder)`.
"""
from __future__ import annotations

import dataclasses
import functools
import types
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, OmegaConf

from pipeline.components.gate import Decision
from pipeline.core.rundir import read_json

T = TypeVar("T", bound="Part")
R = TypeVar("R", bound="Record")

#: what became of a generation's successor: the gate promoted or rejected it, a review blocked its training, or its
#: training failed (a non-finite loss, nothing to train on); blocked and failed generations have no verdict
Outcome = Literal["promoted", "rejected", "blocked", "failed"]


class RecordError(ValueError):
    """A JSON object that is not the record it is read as: an unknown key, a missing one, or not an object."""


def optional() -> Any:
    """A field whose key a record holds only when it has a value (None: the key is absent)."""
    return field(default=None, metadata={"optional": True})


class Part:
    """A dataclass that reads and writes one JSON object; records and the objects inside them."""

    #: keys a variant of the writer adds, kept as they are in the `details` field
    extras: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object, keys in field order; `details` in place of its field, an `optional` field only with a value."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "details":
                out |= value
            elif not (f.metadata.get("optional") and value is None):
                out[f.name] = _dump(value)
        return out

    @classmethod
    def from_json(cls: type[T], data: Any) -> T:
        """The record from its JSON object; RecordError on a key it does not know or a required key that is missing."""
        where = f"{cls.__name__}{f' ({cls.stage}/{cls.file})' if issubclass(cls, Record) else ''}"
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls) if f.name != "details"]
        unknown = sorted(set(data) - set(known) - set(cls.extras))
        if unknown:
            raise RecordError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; it has {', '.join(known + list(cls.extras))}")
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "details":
                values["details"] = {k: data[k] for k in cls.extras if k in data}
            elif f.name in data:
                values[f.name] = _load(hints[f.name], data[f.name])
            elif f.default is MISSING and f.default_factory is MISSING:
                raise RecordError(f"{where}: missing key '{f.name}'")
        return cls(**values)


class Record(Part):
    """One stage's JSON output: `file` in the stage's folder `gen_<k>/<stage>/`."""

    stage: ClassVar[str]
    file: ClassVar[str]


def load(record: type[R], folder: Path) -> R:
    """The record `record` in a stage's folder (`RunDir.stage_dir`)."""
    return record.from_json(read_json(folder / record.file))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A record class's field types, resolved once (a train.json's curve loads hundreds of points)."""
    return get_type_hints(cls)


def _dump(value: Any) -> Any:
    if isinstance(value, Part):
        return value.to_json()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _load(kind: Any, value: Any) -> Any:
    """`value` as the type `kind` says: nested records, and level keys (strings in JSON) back to integers."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return value if value is None or len(inner) != 1 else _load(inner[0], value)
    if isinstance(kind, type) and issubclass(kind, Part):
        return kind.from_json(value)
    if origin is list:
        return [_load(args[0], v) for v in value]
    if origin is dict:
        return {(int(k) if args[0] is int else k): _load(args[1], v) for k, v in value.items()}
    return value


# -- the recipe ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe(Part):
    """How a successor is trained: the config's `recipe:`, the keys a proposer turns. Frozen: a proposer's idea is
    `champion.replace(...)`, so the champion's recipe is never changed in place."""

    warm_start: bool  # fine-tune the champion; false: a fresh model of the size below
    hidden: int
    layers: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    new_share: float  # share of each batch from this generation's round
    temperature: float = 0.0  # curate's sampling temperature (0: greedy)
    judge_threshold: float | None = None  # overrides the judge's own threshold when set

    @classmethod
    def of(cls, cfg: DictConfig) -> Recipe:
        """The config's recipe (`recipe:`, resolved)."""
        return cls.from_json(OmegaConf.to_container(cfg.recipe, resolve=True))

    def replace(self, **changes: Any) -> Recipe:
        """This recipe with `changes`; an unknown key is a TypeError."""
        return dataclasses.replace(self, **changes)


# -- stage 1: weaknesses ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelErrors(Part):
    """The champion's errors at one level of the dev ladder."""

    errors: int
    malformed: int  # wrong length or characters: a format failure
    wrong_digits: int  # right shape, wrong (or, label-free, not trusted) content
    mean_digits_wrong: float


@dataclass(frozen=True)
class Weaknesses(Record):
    """Where the champion is weak on the dev ladder."""

    stage: ClassVar[str] = "weaknesses"
    file: ClassVar[str] = "weaknesses.json"

    champion_gen: int
    threshold: float
    frontier: int
    per_level_accuracy: dict[int, float]
    errors: dict[int, LevelErrors] = field(default_factory=dict)
    weaknesses: list[dict[str, Any]] = field(default_factory=list)  # {level, accuracy, kind} of each level below the threshold

    @property
    def next_level(self) -> int | None:
        """The level the generation works on (frontier + 1), None when every level is mastered."""
        return self.frontier + 1 if self.frontier + 1 in self.per_level_accuracy else None

    def malformed_share(self, level: int) -> float:
        """Share of the errors at `level` that are format failures (wrong length or characters)."""
        err = self.errors.get(level)
        return err.malformed / err.errors if err and err.errors else 0.0

    def describe(self, level: int | None = None) -> str:
        """One weakness in words, e.g. "level 7 accuracy 0.42 < 0.9, wrong digits"."""
        level = self.next_level if level is None else level
        if level is None:
            return f"every level up to {self.frontier} at accuracy >= {float(self.threshold)}"
        kind = "malformed" if self.malformed_share(level) > 0.5 else "wrong digits"
        return f"level {level} accuracy {self.per_level_accuracy[level]:.2f} < {float(self.threshold)}, {kind}"


# -- stage 2: propose ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate(Part):
    """A proposed recipe: what it changes from the champion's ({key: [old, new]}), why, and for which weakness."""

    id: str
    recipe: Recipe
    changes: dict[str, list[Any]]
    rationale: str
    weakness: str


@dataclass(frozen=True)
class Candidates(Record):
    stage: ClassVar[str] = "propose"
    file: ClassVar[str] = "candidates.json"

    champion_recipe: Recipe
    weaknesses: list[dict[str, Any]]
    candidates: list[Candidate]


# -- stage 3: build --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltCandidate(Part):
    """A candidate that builds: its recipe after repairs, its size and cost, the repairs made."""

    id: str
    recipe: Recipe
    params: int
    memory_mb: float
    loss: float
    update: float
    flops: float  # the full training's
    trial_flops: float  # the one trial step's
    repairs: list[str]


@dataclass(frozen=True)
class Dropped(Part):
    """A candidate that could not be built or repaired, and why."""

    id: str
    reason: str
    repairs: list[str]


@dataclass(frozen=True)
class Built(Record):
    stage: ClassVar[str] = "build"
    file: ClassVar[str] = "built.json"

    memory: str  # "measured" (CUDA) or "estimate"
    max_params: int
    max_memory_mb: float
    built: list[BuiltCandidate]
    dropped: list[Dropped]


# -- stage 4: experiment ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePoint(Part):
    """One logged training step (`training.train`): its loss (None: not finite), lr and tokens seen so far."""

    step: int
    loss: float | None
    lr: float
    tokens: int


@dataclass(frozen=True)
class Checkpoint(Part):
    """A pilot's dev accuracy per level at one step."""

    step: int
    tokens: int
    loss: float | None
    acc: dict[int, float]


@dataclass(frozen=True)
class Pilot(Part):
    """One pilot (`ml.pilot.run_pilot`): a candidate's short training on one seed, as experiment writes it to `pilots/`."""

    id: str
    seed: int
    recipe: Recipe
    steps: int
    batch_size: int
    warmup: int
    params: int
    items: dict[int, int]  # dev items per level
    curve: list[CurvePoint]
    checkpoints: list[Checkpoint]
    final_acc: dict[int, float]
    final_loss: float | None
    flops: float
    seconds: float
    diverged: bool


@dataclass(frozen=True)
class PilotEntry(Part):
    """A pilot in experiment.json's index; `file` is its record, relative to the experiment folder."""

    id: str
    seed: int
    final_acc: dict[int, float]
    flops: float
    seconds: float
    diverged: bool
    file: str


@dataclass(frozen=True)
class Experiment(Record):
    stage: ClassVar[str] = "experiment"
    file: ClassVar[str] = "experiment.json"

    pilot_steps: int
    seeds: list[int]
    levels: list[int]  # the dev levels the pilots are scored on
    frontier: int
    items_per_level: int
    executor: str
    pilots: list[PilotEntry]
    rounds: list[dict[str, Any]]  # one pilot round per (temperature, judge threshold)
    skipped: list[dict[str, Any]]  # pilots with nothing to train on: id, seed, why


# -- stage 5: interpret ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked(Part):
    """One candidate's pilots summed up over seeds, with its gain over the champion's recipe, seed by seed."""

    id: str
    seeds: int
    acc_mean: float  # dev accuracy at the target level, at the pilots' end
    acc_std: float
    acc_frontier: float | None
    slope: float  # accuracy per 1k steps
    flops: float  # what the pilots used
    full_flops: float  # what the full training would
    acc_se: float
    seed_finals: dict[str, float]
    flags: list[str]
    recipe: Recipe
    gain: float | None  # None: no pilot of the champion's recipe to compare with
    gain_noise: float | None


@dataclass(frozen=True)
class Interpretation(Record):
    stage: ClassVar[str] = "interpret"
    file: ClassVar[str] = "interpretation.json"

    frontier: int
    target_level: int
    ranked: list[Ranked]  # best paired gain first
    seed_spread: float


# -- stage 6: select -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selected(Record):
    """This generation's recipe and why; `Context.recipe` hands it to curate and train."""

    stage: ClassVar[str] = "select"
    file: ClassVar[str] = "selected.json"

    id: str
    recipe: Recipe
    rationale: str
    reason: str
    predicted_gain: float
    champion_accuracy: float | None
    gain_per_pflop: float
    criterion: str


# -- stage 7: curate -------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeQuality(Part):
    """A judge's keep decisions against the true answers (`judges.base.label_quality`); None where not measurable."""

    judge_precision: float | None
    judge_recall: float | None
    judge_yield: float | None
    label_accuracy: float | None


@dataclass(frozen=True)
class Curation(Record):
    """What the round kept, and the judge's true quality where curate could measure it (None under humans=none)."""

    stage: ClassVar[str] = "curate"
    file: ClassVar[str] = "curation.json"

    levels: list[int]
    judge: str
    judge_reads_ground_truth: bool
    judge_threshold: float | None
    candidates: int
    kept: int
    label_accuracy: float | None
    judge_precision: float | None
    judge_recall: float | None
    judge_yield: float
    contaminated: int
    calibration: dict[str, Any] | None
    strata: dict[str, dict[str, int | None]]  # per stratum: candidates, kept, kept_correct (None when not measured)
    kept_per_level: dict[int, int]

    def quality(self) -> JudgeQuality:
        """The judge's precision, recall and yield and the labels' accuracy (None where curate could not measure them)."""
        return JudgeQuality(self.judge_precision, self.judge_recall, self.judge_yield, self.label_accuracy)


# -- stage 9: train --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainRecord(Record):
    """A generation's training: its stats, or, when it failed, why and at which step (no weights saved)."""

    stage: ClassVar[str] = "train"
    file: ClassVar[str] = "train.json"
    extras: ClassVar[tuple[str, ...]] = ("cap", "learned_at", "checks")  # stage/train=until_learned

    recipe: Recipe
    failed: str | None = optional()
    step: int | None = optional()  # the failed step
    params: int | None = optional()
    steps: int | None = optional()
    seconds: float = 0.0
    flops: float | None = optional()
    final_loss: float | None = optional()
    curve: list[CurvePoint] | None = optional()
    details: dict[str, Any] = field(default_factory=dict)
    train_examples: dict[str, int] | None = optional()  # rows: {"new": this round's, "earlier": the pool's}


@dataclass(frozen=True)
class SeedTraining(Record):
    """Generation 0's train.json. Its `recipe` is the seed_model schedule (warm_start, sizes, steps, batch_size, lr,
    warmup), not a `Recipe`: the seed has no round to mix or label."""

    stage: ClassVar[str] = "train"
    file: ClassVar[str] = "train.json"

    recipe: dict[str, Any]
    params: int
    steps: int
    seconds: float
    flops: float
    final_loss: float
    curve: list[CurvePoint]
    levels: int
    checks: list[dict[str, Any]]
    settled_at: int | None = None  # the first check at the peak lr where every level reached `settle` (None: none did)
    mastered: bool | None = None  # whether every level ended at `mastered` (None: not recorded)


# -- stage 10: verify ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict(Decision, Record):
    """The gate's decision (`pipeline.components.gate.Decision`, whose fields it has) with the champion it was taken
    against, the successor's per-item answers and how they were computed (device, dtype, scorer): the next gate
    reuses them only when computed the same way."""

    stage: ClassVar[str] = "verify"
    file: ClassVar[str] = "verdict.json"
    extras: ClassVar[tuple[str, ...]] = ("control",)  # stage/verify=controlled: the successor against the control

    champion_gen: int | None = None  # None: the seed's verdict, no champion
    successor_correct: str | None = optional()  # "1"/"0" per test item, levels 1.. in order
    device: str | None = optional()
    dtype: str | None = optional()
    scorer: str | None = optional()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        """What the gate did with the successor (a veto writes promoted false)."""
        return "promoted" if self.promoted else "rejected"

    @property
    def frontier(self) -> int:
        """The champion's frontier after this verdict, as the gate measured it: the successor's when promoted."""
        return self.successor_frontier if self.promoted else self.champion_frontier

    def computed(self) -> dict[str, str | None]:
        """How `successor_correct` was computed: compared with `verify.provenance` before it is reused."""
        return {"device": self.device, "dtype": self.dtype, "scorer": self.scorer}


# -- the shadow audit (read by the report and the tools, by no stage) -------------------------------
@dataclass(frozen=True)
class SeedAudit(Record):
    """Generation 0's audit.json: the seed's true answers on the audit ladder (no champion, no verdict to check)."""

    stage: ClassVar[str] = "audit"
    file: ClassVar[str] = "audit.json"

    items: dict[int, int]  # audit items per level
    successor_correct: str | None
    device: str
    dtype: str
    successor_frontier: int
    successor_accuracy: dict[int, float]


@dataclass(frozen=True)
class Audit(Record):
    """A generation's audit.json: the champion's true frontier and, when a successor had a verdict, what a ground-truth
    gate on the audit ladder would have decided (`outcome`: correct or false promotion or rejection, or no successor)."""

    stage: ClassVar[str] = "audit"
    file: ClassVar[str] = "audit.json"

    items: dict[int, int]
    successor_correct: str | None  # None: no successor was trained
    device: str
    dtype: str
    champion_gen: int
    champion_frontier: int  # the true one
    estimated_frontier: int | None  # what weaknesses decided from (None: no weaknesses stage ran)
    judge: JudgeQuality | None  # None: no curate stage ran
    outcome: str
    self_promoted: bool | None = optional()
    truth_promoted: bool | None = optional()
    alpha: float | None = optional()
    truth_reason: str | None = optional()
    successor_frontier: int | None = optional()
    successor_accuracy: dict[int, float] | None = optional()
