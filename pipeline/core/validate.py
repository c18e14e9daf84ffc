"""Config validation before any work: every size, rate, probability, level and device, in one table.

`run_loop` calls `validate(cfg)` before it creates or writes the run folder; the `python -m
pipeline.loop` entry prints the one-line message and exits with status 2. A key absent from the
composed config (a judge or executor variant without that setting) is not checked. To check a new
key, add one row to CHECKS: (key, test, what is allowed).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from submitit import AutoExecutor, LocalExecutor, SlurmExecutor

from pipeline.components.gate import CORRECTIONS
from pipeline.core import knowledge, plugins

_MISSING = object()


class ConfigError(ValueError):
    """A config that cannot run: a value out of range, an unknown stage, a disallowed target, a resume with different settings."""


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def at_least(n: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _int(v) and v >= n), f"an integer >= {n}"


def positive() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _num(v) and v > 0), "a finite number > 0"


def within(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> tuple[Callable[[Any], bool], str]:
    def test(v: Any) -> bool:
        return _num(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    return test, f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def optional(check: tuple[Callable[[Any], bool], str]) -> tuple[Callable[[Any], bool], str]:
    test, text = check
    return (lambda v: v is None or test(v)), f"null or {text}"


def each(check: tuple[Callable[[Any], bool], str], min_len: int = 1) -> tuple[Callable[[Any], bool], str]:
    test, text = check
    return (lambda v: OmegaConf.is_list(v) and len(v) >= min_len and all(test(x) for x in v)), f"a list of >= {min_len} values, each {text}"


def flag() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, bool)), "true or false"


def device_ok(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    if v in ("auto", "cpu"):
        return True
    if v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit()):
        index = int(v[5:]) if ":" in v else 0
        return torch.cuda.is_available() and index < torch.cuda.device_count()
    return False


def submitit_extra_ok(v: Any) -> bool:
    """Every key names a parameter of the submitit executor it is prefixed with: a typo would otherwise fail at
    submission, after the generation's first stages have run."""
    valid = {"slurm": SlurmExecutor._valid_parameters(), "local": LocalExecutor._valid_parameters()}
    shared = AutoExecutor._valid_parameters()
    return OmegaConf.is_dict(v) and all(k.partition("_")[0] in valid and k.partition("_")[2] in valid[k.partition("_")[0]] | shared for k in v)


def _device_text() -> str:
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return "auto, cpu" + (f", cuda or cuda:0..{gpus - 1}" if gpus else " (no CUDA device here, so not cuda)")


PROB = within(0, 1)
RATE = within(0, 1, lo_open=True, hi_open=True)
NONNEG = ((lambda v: _num(v) and v >= 0), "a number >= 0")
TEXT = ((lambda v: isinstance(v, str) and v != ""), "a non-empty string")
#: (key, (test, allowed)), in the order they are checked
CHECKS: list[tuple[str, tuple[Callable[[Any], bool], str]]] = [
    ("seed", ((lambda v: _int(v) and v >= 0), "an integer >= 0")),
    ("device", (device_ok, "")),  # allowed text depends on the machine: _device_text()
    ("loop.max_generations", at_least(1)),
    ("loop.patience", at_least(1)), ("loop.max_minutes", optional(positive())),
    ("loop.stop_on_block", flag()), ("loop.stages", each((lambda v: isinstance(v, str), "a stage name"))),
    ("loop.approve", each((lambda v: isinstance(v, str), "a stage name"), min_len=0)),
    ("approve.policy", ((lambda v: v in ("accept", "reject")), "accept or reject")),
    ("model.hidden", at_least(1)), ("model.layers", at_least(1)), ("model.heads", at_least(1)),
    ("seed_model.levels", at_least(1)), ("seed_model.n_problems", at_least(1)), ("seed_model.max_steps", at_least(1)),
    ("seed_model.batch_size", at_least(1)), ("seed_model.lr", positive()), ("seed_model.warmup", at_least(0)),
    ("seed_model.settle", within(0, 1, lo_open=True)), ("seed_model.mastered", within(0, 1, lo_open=True)), ("seed_model.check_items", at_least(1)),
    ("recipe.warm_start", flag()),
    ("recipe.hidden", at_least(1)), ("recipe.layers", at_least(1)), ("recipe.heads", at_least(1)),
    ("recipe.steps", at_least(1)), ("recipe.batch_size", at_least(1)), ("recipe.lr", positive()), ("recipe.warmup", at_least(0)),
    ("recipe.new_share", PROB), ("recipe.temperature", NONNEG),
    ("recipe.judge_threshold", optional(PROB)),
    ("eval.max_level", optional(at_least(1))), ("eval.items_per_level", at_least(1)), ("eval.beyond", at_least(1)),
    ("splits.test_pct", at_least(1)), ("splits.dev_pct", at_least(1)), ("splits.audit_pct", at_least(1)),
    ("stage.verify.gate.alpha", RATE), ("stage.verify.gate.regression_alpha", RATE), ("stage.verify.gate.window", at_least(1)),
    ("stage.verify.gate.tolerance", PROB), ("stage.verify.gate.threshold", within(0, 1, lo_open=True)),
    ("stage.verify.gate.min_items", at_least(1)),
    ("stage.verify.gate.correction", ((lambda v: v in CORRECTIONS), f"{', '.join(CORRECTIONS[:-1])} or {CORRECTIONS[-1]}")),
    ("stage.weaknesses.threshold", within(0, 1, lo_open=True)),  # after the gate's: it defaults to the gate's threshold
    ("stage.propose.k", at_least(1)),
    ("proposer.stuck_after", at_least(1)), ("proposer.far", PROB), ("proposer.noisy", PROB), ("proposer.margin", PROB),
    ("proposer.strict_judge", PROB), ("proposer.max_keys", at_least(1)),
    ("stage.build.max_params", at_least(1)), ("stage.build.max_memory_mb", positive()), ("stage.build.lr_cuts", at_least(0)),
    ("stage.build.max_update", positive()), ("stage.build.min_head_dim", at_least(1)),
    ("stage.experiment.seeds", each((_int, "an integer"), min_len=2)), ("stage.experiment.steps", at_least(1)),
    ("stage.experiment.round_size", at_least(1)), ("round.ahead", each(at_least(0))),
    ("round.start", at_least(0)), ("round.factor", (lambda v: isinstance(v, (int, float)) and v >= 1, "a number >= 1")), ("round.min_width", at_least(1)),
    ("stage.experiment.batch_scale", positive()), ("stage.experiment.levels_ahead", each(at_least(0))),
    ("stage.experiment.items_per_level", at_least(1)), ("stage.experiment.checkpoints", at_least(1)), ("stage.experiment.max_rows", at_least(1)),
    ("stage.experiment.executor.workers", at_least(1)),
    ("stage.experiment.executor.cluster", ((lambda v: v in ("local", "slurm", "auto")), "local, slurm or auto")),
    ("stage.experiment.executor.timeout_min", at_least(1)), ("stage.experiment.executor.cpus_per_task", at_least(1)),
    ("stage.experiment.executor.gpus_per_node", at_least(0)), ("stage.experiment.executor.mem_gb", optional(positive())),
    ("stage.experiment.executor.partition", optional(TEXT)), ("stage.experiment.executor.folder", optional(TEXT)),
    ("stage.experiment.executor.extra", (submitit_extra_ok, "submitit parameters named slurm_<parameter> or local_<parameter>")),
    ("stage.interpret.target_ahead", at_least(0)), ("stage.interpret.max_spread", NONNEG),
    ("stage.interpret.rise_tol", NONNEG), ("stage.interpret.rise_abs", NONNEG),
    ("stage.select.margin", NONNEG),
    ("stage.curate.n_problems", at_least(1)),
    ("stage.curate.thresholds", each(PROB)), ("stage.curate.target_precision", PROB),
    ("stage.curate.judge.min_confidence", PROB), ("stage.curate.judge.k", at_least(1)), ("stage.curate.judge.threshold", within(0, 1, lo_open=True)),
    ("stage.curate.judge.temperature", positive()), ("stage.curate.judge.p", PROB),
    ("stage.curate.judge.members", at_least(1)), ("stage.curate.judge.min_agreement", within(0, 1, lo_open=True)),
    ("stage.curate.judge.steps", at_least(1)), ("stage.curate.judge.lr", positive()), ("stage.curate.judge.batch_size", at_least(1)),
    ("stage.curate.judge.new_share", within(0, 1, lo_open=True)), ("stage.curate.judge.seed_lr", positive()),
    ("stage.curate.judge.seed_max_steps", at_least(1)), ("stage.curate.judge.settle", within(0, 1, lo_open=True)),
    ("stage.curate.judge.mastered", within(0, 1, lo_open=True)), ("stage.curate.judge.check_rows", at_least(1)),
    ("stage.curate.judge.hidden", at_least(1)), ("stage.curate.judge.layers", at_least(1)), ("stage.curate.judge.heads", at_least(1)),
    ("stage.curate.judge.negatives", at_least(1)), ("stage.curate.judge.max_rows", at_least(1)),
    ("stage.train.settle", within(0, 1, lo_open=True)), ("stage.train.mastered", within(0, 1, lo_open=True)),
    ("stage.train.check_items", at_least(1)), ("stage.train.check_every", at_least(1)),
    ("stage.review.sample_size", at_least(0)), ("stage.review.max_label_error", PROB), ("stage.review.confidence", RATE),
    ("stage.review.max_contamination", at_least(0)),
]

#: checks that tie two keys together: (keys, test on the config, what is allowed)
RELATIONS: list[tuple[str, Callable[[DictConfig], bool], str]] = [
    ("splits.test_pct + splits.dev_pct + splits.audit_pct", lambda c: c.splits.test_pct + c.splits.dev_pct + c.splits.audit_pct < 100,
     "< 100 (training needs the rest)"),
    ("model.hidden % model.heads", lambda c: c.model.hidden % c.model.heads == 0, "0 (heads must divide hidden)"),
    ("recipe.hidden % recipe.heads", lambda c: c.recipe.hidden % c.recipe.heads == 0, "0 (heads must divide hidden)"),
    ("seed_model.levels", lambda c: c.eval.max_level is None or c.seed_model.levels < c.eval.max_level,
     "< eval.max_level (the gate needs a level past the seed's)"),
    ("stage.verify.gate.window", lambda c: OmegaConf.select(c, "stage.verify.gate.window", default=1) <= c.eval.beyond,
     "<= eval.beyond (the gate's levels past the champion's frontier must be on the ladder it climbs)"),
    ("seed_model.settle", lambda c: c.seed_model.settle <= c.seed_model.mastered, "<= seed_model.mastered (the decay starts before mastery)"),
    ("stage.train.settle", lambda c: OmegaConf.select(c, "stage.train.settle", default=0) <= OmegaConf.select(c, "stage.train.mastered", default=1),
     "<= stage.train.mastered (the decay starts before mastery)"),
    ("eval.items_per_level", lambda c: c.eval.items_per_level >= OmegaConf.select(c, "stage.verify.gate.min_items", default=0),
     ">= stage.verify.gate.min_items (the frontier passes over a level with fewer test items: no level would be judged)"),
    ("stage.experiment.checkpoints", lambda c: "experiment" not in c.stage or c.stage.experiment.checkpoints <= c.stage.experiment.steps,
     "<= stage.experiment.steps"),
]


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError with one line naming the first key whose value cannot work, and what is allowed."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"config cannot be resolved: {str(err).splitlines()[0]}") from None
    for row, (test, allowed) in CHECKS:
        for key in _judge_members(cfg, row):
            value = OmegaConf.select(cfg, key, default=_MISSING)
            if value is _MISSING:
                continue
            if not test(value):
                shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
                raise ConfigError(f"config error: {key}={shown!r} is not allowed; it must be {allowed or _device_text()}")
    for keys, test, allowed in RELATIONS:
        if not test(cfg):
            raise ConfigError(f"config error: {keys} must be {allowed}")
    try:
        plugins.check(cfg, plugins.allowed(cfg))
    except plugins.PluginError as err:
        raise ConfigError(f"config error: {err}") from None
    _check_approve(cfg)
    _check_humans(cfg)
    _check_knowledge(cfg)


def _judge_members(cfg: DictConfig, key: str) -> list[str]:
    """`key`, and for a judge's key the same key on each judge a combining judge holds (any_of's `judges` list):
    a member's bad setting would otherwise reach its constructor mid-run, unchecked."""
    prefix = "stage.curate.judge."
    members = OmegaConf.select(cfg, prefix + "judges", default=None)
    if not key.startswith(prefix) or not OmegaConf.is_list(members):
        return [key]
    return [key, *(f"{prefix}judges.{i}.{key[len(prefix):]}" for i in range(len(members)))]


def _check_approve(cfg: DictConfig) -> None:
    """Every stage in `loop.approve` must run and have a veto: a refusal found only after hours of work
    would end the run. Called after `plugins.check`, so only allowed targets are imported here."""
    from hydra._internal.utils import _locate

    stages = list(OmegaConf.select(cfg, "loop.stages", default=[]))
    for name in OmegaConf.select(cfg, "loop.approve", default=[]):
        if name not in stages:
            raise ConfigError(f"config error: loop.approve names '{name}', which is not in loop.stages ({', '.join(stages)})")
        target = OmegaConf.select(cfg, f"stage.{name}._target_", default=None)
        if target is not None and not getattr(_locate(target), "vetoable", False):
            raise ConfigError(f"config error: stage {name} has no veto; remove it from loop.approve")


def _check_humans(cfg: DictConfig) -> None:
    """A stage configured to read true answers where `humans` forbids it would fail mid-run (TruthForbidden):
    refused here, before any work. Called after `plugins.check`, so only allowed targets are imported."""
    from hydra._internal.utils import _locate

    readers = OmegaConf.select(cfg, "humans.readers", default=None)
    if readers is None:
        return
    scorer, judge = OmegaConf.select(cfg, "scorer._target_", default=None), OmegaConf.select(cfg, "judge._target_", default=None)
    train = OmegaConf.select(cfg, "stage.train._target_", default=None)
    scorer_reads = scorer is not None and _locate(scorer).needs_answers
    judge_reads = judge is not None and _locate(judge).reads_ground_truth
    why = {
        "weaknesses": scorer_reads,
        "experiment": scorer_reads or judge_reads,
        "verify": scorer_reads,
        "curate": judge_reads or bool(OmegaConf.select(cfg, "stage.curate.calibrate", default=False)),
        "review": OmegaConf.select(cfg, "stage.review.sample_size", default=0) > 0,
        "train": scorer_reads and train is not None and getattr(_locate(train), "scores_dev", False),
    }
    bad = [s for s in OmegaConf.select(cfg, "loop.stages", default=[]) if why.get(s) and s not in readers]
    if bad:
        raise ConfigError(f"config error: humans={cfg.humans.mode} lets no stage but {list(readers)} read ground truth, but {', '.join(bad)} would "
                          f"(a truth scorer, a judge that reads truth, calibration or a review audit); use their label-free variants")


def _check_knowledge(cfg: DictConfig) -> None:
    """A judge, labeler or scorer that needs a task hook the task lacks would make every round empty (a split judge keeps
    nothing on a task it cannot cut) or relabel nothing under its own name: refused here, before any work. Called after
    `plugins.check`, so only allowed targets are built; one whose settings its class does not take is refused too."""
    try:
        why = knowledge.refusal(cfg)
    except InstantiationException as err:
        raise ConfigError(f"config error: {' '.join(str(err).split())}") from None
    if why is not None:
        raise ConfigError(f"config error: {why}")
