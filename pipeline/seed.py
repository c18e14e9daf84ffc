"""Generation 0: the "human-made" seed, trained on ground truth for levels 1..N.

It is cached under a key derived from everything that shapes it (task, model, data, steps,
seed), so the next run with the same seed settings copies it instead of retraining.
The seed fills gen_0/ like any generation: curate/data (its ground-truth data), train/model,
and verify/verdict.json (its own scores on the test ladder).
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from typing import Any

from omegaconf import OmegaConf
from rich.console import Console

from pipeline.context import Context
from pipeline.data import save_rows
from pipeline.cache import Entry, claim, seal
from pipeline.evaluate import bits, correctness, counts, frontier, per_level
from pipeline.model import build_model, build_tokenizer, load, n_params, save
from pipeline.rundir import atomic_dir, write_json
from pipeline.stages.train import train_flops
from pipeline.stages.verify import provenance
from pipeline.training import encode, train


def seed_key(ctx: Context) -> str:
    """A short hash of every setting that changes the seed model."""
    cfg = ctx.cfg
    shape = OmegaConf.to_container(OmegaConf.create({"task": cfg.task, "model": cfg.model, "seed_model": cfg.seed_model, "splits": cfg.splits}), resolve=True)
    shape["seed"] = cfg.seed
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]


def make_seed(ctx: Context, console: Console) -> dict[str, Any]:
    """Train (or reuse from the cache) the seed model and lay out gen_0/; a run training the same seed meanwhile is waited for."""
    with claim(ctx.cfg.cache_dir, seed_key(ctx), console.print) as entry:
        return _make_seed(ctx, console, entry)


def _make_seed(ctx: Context, console: Console, entry: Entry) -> dict[str, Any]:
    sm = ctx.cfg.seed_model
    key = seed_key(ctx)
    cached = entry.path
    if entry.ready:
        console.print(f"seed: reusing cached seed {cached} (same seed settings, key {key})")
        info = json.loads((cached / "train.json").read_text())
        info["reused_from"] = str(cached)
    else:
        tok = build_tokenizer(ctx.task.alphabet)
        rng = random.Random(f"seed-data-{ctx.cfg.seed}")
        problems = ctx.splits.draw("train", sm.n_problems, lambda r: ctx.task.sample_mixed(sm.levels, r), rng)
        data = encode(tok, [p.prompt for p in problems], [p.answer for p in problems])
        model = build_model(tok, ctx.cfg.model.hidden, ctx.cfg.model.layers, ctx.cfg.model.heads, seed=ctx.cfg.seed).to(ctx.device)
        console.print(f"seed: training generation 0 on levels 1..{sm.levels} ({n_params(model):,} parameters, {sm.steps} steps)")
        start = time.time()
        curve = train(model, [(data, 1.0)], steps=sm.steps, batch_size=sm.batch_size, lr=sm.lr, warmup=sm.warmup, seed=ctx.cfg.seed, description="seed train")
        seconds = time.time() - start
        recipe = {**OmegaConf.to_container(ctx.cfg.recipe, resolve=True), **OmegaConf.to_container(ctx.cfg.model, resolve=True)}
        info = {"levels": sm.levels, "params": n_params(model), "seconds": round(seconds, 2), "flops": train_flops(n_params(model), curve[-1]["tokens"]),
                "final_loss": curve[-1]["loss"], "curve": curve, "recipe": recipe, "key": key}
        target = cached if entry.writable else ctx.run.stage_dir(0, "seed") / "build"
        with atomic_dir(target) as tmp:
            save(model, tok, tmp / "model")
            save_rows({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems], "level": [p.level for p in problems]}, tmp / "data")
            write_json(tmp / "train.json", info)
            seal(tmp)
        cached = target
    for stage, part in (("train", "model"), ("curate", "data")):
        dest = ctx.run.stage_dir(0, stage) / part
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(cached / part, dest)
    write_json(ctx.run.stage_dir(0, "train") / "train.json", info)
    items = ctx.ladder("test")
    correct = correctness(*load(ctx.run.stage_dir(0, "train") / "model", ctx.device), ctx.task, items)
    acc = per_level(items, correct)
    front = frontier(acc, ctx.cfg.stage.verify.gate.threshold, counts(items), ctx.cfg.stage.verify.gate.min_items)
    if front < sm.levels:
        console.print(f"[yellow]warning: the seed masters levels 1..{front} only, not 1..{sm.levels}: "
                      f"it has not finished learning (raise seed_model.steps)[/yellow]")
    write_json(ctx.run.stage_dir(0, "verify") / "verdict.json", {"promoted": True, "reason": "the seed is the first champion", "successor_frontier": front, "successor_accuracy": acc, "successor_correct": bits(correct), **provenance(ctx.device)})
    return {"frontier": front, "seconds": info["seconds"], "reused": "reused_from" in info}
