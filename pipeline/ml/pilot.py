"""One pilot: a short training of a candidate recipe, scored on dev items at a few checkpoints.

`run_pilot` takes a plain dict (a `PilotSpec`) and reads everything from paths, so it runs the
same in this process, in a worker process or on another machine. Everything it does is seeded
and the CPU path is fp32, so a pilot repeats exactly wherever it runs.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import torch

from pipeline.core import plugins
from pipeline.core.pools import of_level
from pipeline.core.rundir import read_json
from pipeline.ml.data import load_joined
from pipeline.ml.evaluate import correctness, per_level
from pipeline.ml.model import build_model, load, n_params
from pipeline.ml.training import Encoded, NothingToTrain, encode, train, train_flops
from tasks import Problem


class Source(TypedDict):
    paths: list[str]  # saved datasets (prompt, answer columns), pooled into one source
    weight: float  # its share of every batch
    level: int | None  # only the rows of this level (`data=per_level`); None: every row


class PilotSpec(TypedDict):
    id: str  # candidate id
    seed: int  # the seed's label (file name <id>-s<seed>.json)
    train_seed: int  # seeds data order, the data subsample and a fresh model's weights
    model_dir: str  # the champion: its tokenizer always, its weights when the recipe warm-starts
    recipe: dict[str, Any]
    sources: list[Source]
    max_rows: int  # at most this many rows per source are encoded (a pilot sees steps x batch of them)
    steps: int
    batch_size: int
    warmup: int
    eval_every: int  # dev accuracy every this many steps, and at the last step
    dev: str  # JSON list of {prompt, level, and answer when the scorer needs true answers}
    task: dict[str, Any]  # the task's Hydra config (`_target_`)
    scorer: dict[str, Any]  # the scorer's Hydra config (`_target_`): true answers from `dev`, or label-free
    allow: list[str]  # packages its `_target_` may come from (pipeline.core.plugins)
    device: str


def _encode_source(tokenizer: Any, source: Source, max_rows: int, seed: int) -> Encoded:
    """The source's rows, a seeded subsample of `max_rows` when there are more (chosen before the
    columns are read: reading all of a 200k-row pool costs seconds)."""
    rows = load_joined([Path(p) for p in source["paths"]])
    if rows is None:
        return encode(tokenizer, [], [])
    rows = of_level(rows, source["level"])
    if len(rows) > max_rows:
        rows = rows.select(sorted(random.Random(seed).sample(range(len(rows)), max_rows)))
    return encode(tokenizer, rows["prompt"], rows["answer"])


def _finite(x: float) -> float | None:
    """JSON-safe loss: None marks a non-finite value."""
    return x if math.isfinite(x) else None


def run_pilot(spec: PilotSpec) -> dict[str, Any]:
    """Train the candidate for `steps` steps and return its record: loss curve, per-level dev
    accuracy at each checkpoint, compute, wall time and whether the loss went non-finite. A candidate with
    nothing to train on gets a record with `skipped` (why) instead: there is no pilot to score."""
    start = time.time()
    device = torch.device(spec["device"])
    recipe = spec["recipe"]
    model, tok = load(Path(spec["model_dir"]), device)
    if not recipe["warm_start"]:
        model = build_model(tok, recipe["hidden"], recipe["layers"], recipe["heads"], seed=spec["train_seed"]).to(device)
    sources = [(_encode_source(tok, s, spec["max_rows"], spec["train_seed"]), s["weight"]) for s in spec["sources"]]
    task = plugins.instantiate(spec["task"], spec["allow"])
    scorer = plugins.instantiate(spec["scorer"], spec["allow"])
    rows = read_json(Path(spec["dev"]))
    items = [Problem(row["prompt"], "", row["level"]) for row in rows]
    truth = [row.get("answer") for row in rows]  # read (and counted) by the experiment stage when it wrote them

    def check(problems: Sequence[Problem], answers: Sequence[str]) -> list[bool]:
        return [a == t for a, t in zip(answers, truth)]
    checkpoints: list[dict[str, Any]] = []

    def evaluate(step: int, point: dict[str, float]) -> None:
        if step == 0 and spec["steps"] > 1:  # one step in: too early to say anything
            return
        acc = per_level(items, correctness(model, tok, task, items, scorer, check))
        checkpoints.append({"step": step + 1, "tokens": point["tokens"], "loss": _finite(point["loss"]),
                            "acc": {str(level): a for level, a in acc.items()}})
        model.train()  # evaluation switched it to eval mode

    try:
        curve = train(
            model, sources, steps=spec["steps"], batch_size=spec["batch_size"], lr=recipe["lr"], warmup=spec["warmup"],
            seed=spec["train_seed"], log=evaluate, log_every=spec["eval_every"], description=f"pilot {spec['id']} s{spec['seed']}",
        )
    except NothingToTrain as err:  # e.g. the judge kept none of the pilot round and the recipe gives it all of each batch
        return {"id": spec["id"], "seed": spec["seed"], "recipe": recipe, "skipped": str(err), "seconds": round(time.time() - start, 2)}
    losses = [_finite(p["loss"]) for p in curve]
    counts: dict[str, int] = {}
    for p in items:
        counts[str(p.level)] = counts.get(str(p.level), 0) + 1
    return {
        "id": spec["id"],
        "seed": spec["seed"],
        "recipe": recipe,
        "steps": spec["steps"],
        "batch_size": spec["batch_size"],
        "warmup": spec["warmup"],
        "params": n_params(model),
        "items": counts,
        "curve": [{**p, "loss": loss} for p, loss in zip(curve, losses)],
        "checkpoints": checkpoints,
        "final_acc": checkpoints[-1]["acc"],
        "final_loss": losses[-1],
        "flops": train_flops(n_params(model), curve[-1]["tokens"]),
        "seconds": round(time.time() - start, 2),
        "diverged": any(loss is None for loss in losses),
    }
