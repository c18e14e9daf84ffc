"""Generation 0: the "human-made" seed, trained on ground truth for levels 1..N.

The seed trains through `train_generation` (pipeline/ml/fitting.py), as the train stage does, and is scored by the verify stage, so gen_0/
holds what every generation holds: curate/data (its ground-truth data), train/model and
train.json, verify/verdict.json, and seed/human_labels.json: every label it read, the human input. It trains until it has learned its levels: the peak lr is held
until every level 1..N reaches `seed_model.settle` on a few dev items, then the lr decays; a seed
the decay left below `seed_model.mastered` trains on (capped at `seed_model.max_steps`). NoPE addition is learned in a sudden drop of the loss that
comes hundreds of steps earlier or later from one seed or machine to the next, so a fixed count
left some seeds unfinished. It is cached under a key derived from everything that shapes it
(task, model, data, recipe, seed), so the next run with the same settings copies it; runs that
need the same seed at the same time take turns (`pipeline.core.cache`).
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from pipeline.components.scorers import TrueAnswers
from pipeline.core.cache import claim, seal
from pipeline.core.context import Context
from pipeline.core.records import SeedTraining
from pipeline.core.rundir import LEDGER, atomic_dir, write_json
from pipeline.core.truth import DECIDE, SEED
from pipeline.ml.data import load_rows, save_rows
from pipeline.ml.fitting import LevelChecks, train_generation
from pipeline.ml.model import build_model, build_tokenizer, n_params
from pipeline.ml.training import encode
from tasks import Problem

class Gate(Protocol):
    """What scores the seed: the verify stage's first verdict (the seed has no champion to beat)."""

    def first(self, ctx: Context) -> dict[str, Any]: ...


#: what gen_0 holds, as (stage, part): copied to and from the cache
PARTS = (("train", "model"), ("train", "train.json"), ("curate", "data"))
#: how `train_seed` schedules training, part of the cache key: change it whenever the code trains a seed differently,
#: so no cache hands out a seed the code of the day would not have made
SCHEDULE = "peak until settle, decay until mastered; checked on dev items drawn per level"


def _copy(src: Path, dest: Path) -> None:
    """A folder (model, dataset) or a file (train.json), between gen_0/ and the cache."""
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)


def seed_shape(cfg: DictConfig) -> dict[str, Any]:
    """Every setting that changes the seed model (and so generation 0), resolved."""
    shape = OmegaConf.to_container(OmegaConf.create({"task": cfg.task, "model": cfg.model, "seed_model": cfg.seed_model, "splits": cfg.splits}), resolve=True)
    shape["seed"], shape["schedule"] = cfg.seed, SCHEDULE
    return shape


def seed_key(cfg: DictConfig) -> str:
    """A short hash of `seed_shape`: the seed cache's key."""
    return hashlib.sha256(json.dumps(seed_shape(cfg), sort_keys=True).encode()).hexdigest()[:12]


def train_seed(ctx: Context, console: Console) -> SeedTraining:
    """Draw the seed's ground-truth data, train a fresh model on it until it has learned its levels,
    and write gen_0/curate/data, gen_0/train/model and train.json."""
    sm, cfg = ctx.cfg.seed_model, ctx.cfg
    rng = random.Random(f"seed-data-{cfg.seed}")
    problems = ctx.splits.draw("train", sm.n_problems, lambda r: ctx.task.sample_mixed(sm.levels, r), rng)
    rows = {"prompt": [p.prompt for p in problems], "answer": ctx.truth.answers(problems, DECIDE), "level": [p.level for p in problems]}
    save_rows(rows, ctx.out("curate") / "data")
    tok = build_tokenizer(ctx.task.alphabet)
    model = build_model(tok, cfg.model.hidden, cfg.model.layers, cfg.model.heads, seed=cfg.seed).to(ctx.device)
    recipe = {"warm_start": False, **OmegaConf.to_container(cfg.model, resolve=True),
              "steps": sm.max_steps, "batch_size": sm.batch_size, "lr": sm.lr, "warmup": sm.warmup}
    console.print(f"seed: training generation 0 on levels 1..{sm.levels} ({n_params(model):,} parameters, "
                  f"peak lr until every level reaches {sm.settle} on dev items, then decayed until every level reaches {sm.mastered}; at most {sm.max_steps} steps)")
    # the seed's own levels only: items a human labelled for the levels the seed is taught; true answers whatever the
    # run's scorer: the seed is the human-made phase, shared by every mode
    checks = LevelChecks(ctx, model, tok, ctx.dev_items(range(1, sm.levels + 1), sm.check_items), TrueAnswers())
    data = [(encode(tok, rows["prompt"], rows["answer"]), 1.0)]
    stats = train_generation(ctx, model, tok, data, recipe, seed=cfg.seed, learned=checks.reaches(sm.settle), finished=checks.reaches(sm.mastered))
    # At the peak lr a learned model still slips on a few items a check, so the decay starts at `settle` and ends
    # once every level is `mastered`; a seed the decay left short of that trains on, now holding the peak until it
    # is mastered (the steps left).
    done = stats["steps"]
    if not checks.at(done, sm.mastered) and done < sm.max_steps:
        more = train_generation(ctx, model, tok, data, {**recipe, "steps": sm.max_steps - done}, seed=cfg.seed + 1,
                   learned=checks.reaches(sm.mastered, done), finished=checks.reaches(sm.mastered, done))
        stats.update(steps=done + more["steps"], seconds=round(stats["seconds"] + more["seconds"], 2), flops=stats["flops"] + more["flops"],
                     final_loss=more["final_loss"], curve=stats["curve"] + [{**c, "step": done + c["step"]} for c in more["curve"]])
    # settled_at: at the peak, the first round's checks
    stats.update(levels=sm.levels, checks=checks.checks, settled_at=checks.first(sm.settle, before=done),
                 mastered=checks.at(stats["steps"], sm.mastered))
    record = SeedTraining.from_json(stats)
    ctx.write(record)
    return record


def _count_cached(ctx: Context) -> None:
    """A cached seed's labels were read when it was trained: its data and its mastery check count in this run's ledger too."""
    data = load_rows(ctx.out("curate") / "data")[:]
    ctx.truth.record([Problem(p, "", lv) for p, lv in zip(data["prompt"], data["level"])], DECIDE)
    sm = ctx.cfg.seed_model
    ctx.truth.record(ctx.dev_items(range(1, sm.levels + 1), sm.check_items), DECIDE)


def make_seed(ctx: Context, console: Console, verify: Gate) -> dict[str, Any]:
    """Train (or copy from the cache) the seed model into gen_0/ and score it on the test ladder;
    a run training the same seed meanwhile is waited for."""
    key = seed_key(ctx.cfg)
    ctx.truth.at(0, SEED)
    with claim(ctx.cfg.cache_dir, key, console.print) as entry:
        if entry.ready:
            console.print(f"seed: reusing cached seed {entry.path} (same seed settings, key {key})")
            for stage, part in PARTS:
                shutil.rmtree(ctx.out(stage) / part, ignore_errors=True)
                _copy(entry.path / part, ctx.out(stage) / part)
            stats = ctx.read(SeedTraining)
            _count_cached(ctx)
        else:
            stats = train_seed(ctx, console)
            if entry.writable:
                with atomic_dir(entry.path) as tmp:
                    for stage, part in PARTS:
                        _copy(ctx.out(stage) / part, tmp / part)
                    seal(tmp)
    summary = verify.first(ctx)
    write_json(ctx.out(SEED) / LEDGER, ctx.truth.counts())
    front, levels = summary["successor_frontier"], ctx.cfg.seed_model.levels
    if front < levels:
        console.print(f"[yellow]warning: the seed masters levels 1..{front} only, not 1..{levels} on the test ladder "
                      f"(settled on dev items at step {stats.settled_at}; raise seed_model.max_steps)[/yellow]")
    return {"frontier": front, "seconds": stats.seconds, "steps": stats.steps, "reused": entry.ready}
