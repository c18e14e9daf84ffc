"""Stage 3: make each candidate runnable ("write and debug").

Each candidate's model is built (a copy of the champion for a warm start, else a fresh model of the
recipe's size) and takes one AdamW step at the recipe's peak lr on a real batch of the pool
(`pipeline.ml.training.train`, so the optimizer is exactly the one training uses). Checks:
  - parameters <= max_params, counted on the meta device (an oversized recipe allocates nothing);
  - memory <= max_memory_mb: on CUDA the measured peak of that step (torch.cuda.max_memory_allocated);
    elsewhere the estimate of `memory_estimate`, which also screens every recipe before anything is allocated;
  - a stable step: finite loss before and after it, and weights that move by less than `max_update` of their norm.
Known failures are repaired, each repair recorded: lr not a positive number -> the champion's lr;
unstable step -> lr / 10 (at most `lr_cuts` times); heads not dividing hidden -> the largest divisor
of hidden below heads; over a budget -> halve the width, then the depth (fresh models only: a warm
start has the champion's size). What cannot be repaired is dropped with the reason.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.components.judges import Judge
from pipeline.core.context import Context
from pipeline.core.device import autocast
from pipeline.core.records import Built, BuiltCandidate, Candidate, Candidates, Dropped, Recipe
from pipeline.ml.model import build_model, load, n_params
from pipeline.ml.training import Encoded, encode, padding_mask, train, train_flops
from pipeline.stages.base import Stage


def memory_estimate(params: int, hidden: int, layers: int, heads: int, vocab: int, batch: int, seq: int) -> float:
    """MiB for one fp32 training step: weights, grads and AdamW's two moments (16 bytes a parameter),
    activations per layer from Korthikanti et al. 2022 (34sbh + 5as^2b bytes in 16 bits, doubled for fp32),
    and the logits with their gradient."""
    states = 16 * params
    activations = layers * 2 * (34 * seq * batch * hidden + 5 * heads * seq**2 * batch)
    logits = 2 * 4 * batch * seq * vocab
    return (states + activations + logits) / 2**20


@dataclass
class Trial:
    """What one AdamW step showed."""

    loss: float  # before the step
    loss_after: float
    update: float  # |weights after - before| / |weights before|
    tokens: int  # real tokens in the batch
    memory_mb: float | None  # measured peak (CUDA only)


class Build(Stage):
    name = "build"

    def __init__(self, judge: Judge, max_params: int, max_memory_mb: float, lr_cuts: int = 3, max_update: float = 1.0, min_head_dim: int = 8) -> None:
        self.judge, self.max_params, self.max_memory_mb = judge, max_params, max_memory_mb
        self.lr_cuts, self.max_update, self.min_head_dim = lr_cuts, max_update, min_head_dim

    def run(self, ctx: Context) -> dict[str, Any]:
        candidates = ctx.read(Candidates).candidates
        champion, tok = load(ctx.champion_dir, "cpu")
        pool = ctx.pool()
        size = min(len(pool), max(c.recipe.batch_size for c in candidates))
        sample = pool.select(random.Random(f"build-{ctx.cfg.seed}-{ctx.gen}").sample(range(len(pool)), size))
        batch = encode(tok, sample["prompt"], sample["answer"])
        built: list[BuiltCandidate] = []
        dropped: list[Dropped] = []
        for cand in candidates:
            result = self.make(cand, champion, tok, batch, ctx.champion_recipe().lr, ctx.device, ctx.cfg.seed, ctx.gen)
            if isinstance(result, Dropped):
                dropped.append(result)
            else:
                built.append(result)
        ctx.write(Built(memory="measured" if ctx.device.type == "cuda" else "estimate", max_params=self.max_params,
                        max_memory_mb=self.max_memory_mb, built=built, dropped=dropped))
        ctx.log({"build/built": len(built), "build/dropped": len(dropped)})
        return {"built": len(built), "dropped": len(dropped), "repairs": sum(len(r.repairs) for r in [*built, *dropped]),
                "flops": sum(r.trial_flops for r in built)}  # the one trial step each built candidate took

    def make(self, cand: Candidate, champion: torch.nn.Module, tok: PreTrainedTokenizerFast, batch: Encoded,
             fallback_lr: float, device: torch.device, seed: int, gen: int) -> BuiltCandidate | Dropped:
        """The candidate built (recipe after repairs, size, cost), or dropped with the reason."""
        repairs: list[str] = []
        (recipe, reason), cuts = self.fix_inputs(cand.recipe, fallback_lr, repairs, self.judge), 0
        while reason is None:
            try:
                params, memory, trial = self.check(recipe, champion, tok, batch, device, seed, gen)
                problem = self.over_budget(params, memory)
            except torch.cuda.OutOfMemoryError:
                params, memory, trial, problem = 0, 0.0, None, "out of memory"
            except (RuntimeError, ValueError, TypeError) as err:
                reason = f"cannot build: {type(err).__name__}: {err}"
                break
            if problem is not None:
                smaller = None if recipe.warm_start else self.shrink(recipe)
                if smaller is None:
                    reason = (f"{problem}; a warm start has the champion's size and cannot shrink" if recipe.warm_start
                              else f"{problem} even at hidden {recipe.hidden}, layers {recipe.layers}")
                    break
                recipe, note = smaller
                repairs.append(f"{problem}: {note}")
            elif not (math.isfinite(trial.loss) and math.isfinite(trial.loss_after) and trial.update <= self.max_update):
                why = f"unstable step at lr {recipe.lr:g} (loss {trial.loss:.4g} -> {trial.loss_after:.4g}, update {trial.update:.3g} of the weights)"
                if cuts == self.lr_cuts:
                    reason = f"{why} after {cuts} lr cuts"
                    break
                cuts += 1
                recipe = recipe.replace(lr=recipe.lr / 10)
                repairs.append(f"{why}: lr / 10 = {recipe.lr:g}")
            else:
                return BuiltCandidate(id=cand.id, recipe=recipe, params=params, memory_mb=round(memory, 1), loss=round(trial.loss, 4),
                                      update=round(trial.update, 4), flops=train_flops(params, trial.tokens * recipe.steps),
                                      trial_flops=train_flops(params, trial.tokens), repairs=repairs)
        return Dropped(id=cand.id, reason=reason, repairs=repairs)

    @staticmethod
    def fix_inputs(recipe: Recipe, fallback_lr: float, repairs: list[str], judge: Judge) -> tuple[Recipe, str | None]:
        """The recipe with what can be read off it repaired (lr, heads), each repair added to `repairs`; and the reason
        to drop it when sizes are not positive integers or it sets a threshold the configured judge does not have."""
        if recipe.judge_threshold is not None and judge.threshold_field is None:
            return recipe, f"judge_threshold {recipe.judge_threshold} set, but the judge ({type(judge).__name__}) has no threshold"
        sizes = ("steps", "batch_size") if recipe.warm_start else ("steps", "batch_size", "hidden", "layers", "heads")
        bad = [f"{k}={getattr(recipe, k)!r}" for k in sizes if not isinstance(getattr(recipe, k), int) or getattr(recipe, k) < 1]
        if bad:
            return recipe, f"not positive integers: {', '.join(bad)}"
        lr = recipe.lr
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            recipe = recipe.replace(lr=fallback_lr)
            repairs.append(f"lr {lr} is not a positive number: the champion's lr {fallback_lr}")
        if not recipe.warm_start and recipe.hidden % recipe.heads:
            heads = max(d for d in range(1, recipe.heads + 1) if recipe.hidden % d == 0)
            repairs.append(f"heads {recipe.heads} do not divide hidden {recipe.hidden}: heads {heads}")
            recipe = recipe.replace(heads=heads)
        return recipe, None

    def check(self, recipe: Recipe, champion: torch.nn.Module, tok: PreTrainedTokenizerFast, batch: Encoded,
              device: torch.device, seed: int, gen: int) -> tuple[int, float, Trial | None]:
        """Parameters, memory (measured on CUDA, else the estimate) and the trial step; no trial when the size is over budget."""
        params, memory = self.size(recipe, champion, tok, batch)
        if self.over_budget(params, memory) is not None:
            return params, memory, None
        model = copy.deepcopy(champion) if recipe.warm_start else build_model(tok, recipe.hidden, recipe.layers, recipe.heads, seed + gen)
        trial = self.trial(model, batch, recipe, device, seed * 1000 + gen)
        return params, memory if trial.memory_mb is None else trial.memory_mb, trial

    def size(self, recipe: Recipe, champion: torch.nn.Module, tok: PreTrainedTokenizerFast, batch: Encoded) -> tuple[int, float]:
        """Parameters (counted on the meta device, no memory used) and the memory estimate."""
        if recipe.warm_start:
            params, c = n_params(champion), champion.config
            hidden, layers, heads = c.hidden_size, c.num_hidden_layers, c.num_attention_heads
        else:
            hidden, layers, heads = recipe.hidden, recipe.layers, recipe.heads
            with torch.device("meta"):
                params = n_params(build_model(tok, hidden, layers, heads, seed=0))
        return params, memory_estimate(params, hidden, layers, heads, len(tok), recipe.batch_size, batch.input_ids.shape[1])

    def over_budget(self, params: int, memory_mb: float) -> str | None:
        if params > self.max_params:
            return f"{params:,} parameters > {self.max_params:,}"
        if memory_mb > self.max_memory_mb:
            return f"{memory_mb:.1f} MiB > {self.max_memory_mb} MiB"
        return None

    def shrink(self, recipe: Recipe) -> tuple[Recipe, str] | None:
        """Halve the width while heads still divide it with head size >= min_head_dim, then the depth."""
        hidden, layers, heads = recipe.hidden, recipe.layers, recipe.heads
        if hidden // 2 >= heads * self.min_head_dim and (hidden // 2) % heads == 0:
            return recipe.replace(hidden=hidden // 2), f"hidden {hidden} -> {hidden // 2}"
        if layers > 1:
            return recipe.replace(layers=layers // 2), f"layers {layers} -> {layers // 2}"
        return None

    @staticmethod
    def trial(model: torch.nn.Module, batch: Encoded, recipe: Recipe, device: torch.device, seed: int) -> Trial:
        """One AdamW step at the peak lr (warmup 1), the loss before and after, and how far the weights moved."""
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        model = model.to(device)
        before = [p.detach().to("cpu", copy=True) for p in model.parameters()]
        curve = train(model, [(batch, 1.0)], steps=1, batch_size=recipe.batch_size, lr=recipe.lr, warmup=1, seed=seed, description="build check")
        memory = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if cuda else None
        moved = sum(float((p.detach().cpu() - b).pow(2).sum()) for p, b in zip(model.parameters(), before))
        norm = sum(float(b.pow(2).sum()) for b in before)
        mask = padding_mask(batch.lengths, batch.input_ids.shape[1])
        with torch.no_grad(), autocast(device):
            after = model(input_ids=batch.input_ids.to(device), attention_mask=mask.to(device), labels=batch.labels.to(device)).loss.item()
        return Trial(curve[0]["loss"], after, math.sqrt(moved / norm), int(curve[0]["tokens"]), memory)
