"""`make bench`: measure and print the speeds the loop depends on (no thresholds, just numbers).

    python -m pipeline.tools.bench [--device auto] [--hidden 64 --layers 4 --heads 4] [--runs runs/default/<ts> ...]

- first, this machine's speed today: the yardstick (`pipeline/tools/yardstick.py`, a fixed PyTorch workload that uses
  none of the project's code, so readings compare machines and days);
- training steps/s of the project's loop, of a bare PyTorch loop on the same model and batch size
  (fixed tensors, the batch whole: forward, backward, AdamW), and their ratio (target >= 0.95: the loop's
  batching, schedule, clipping and logging cost no more than 5%; on a CPU, where the loop trains a batch in
  length-sorted pieces, `device.micro_batches`, a ratio over 1 is what the pieces save);
- the share of a training step's CPU time spent in matrix multiplies (torch.profiler);
- greedy and sampled answers/s;
- with `--runs`: each finished run's wall time to the seed's training length + 1, + 2 and + 3 (seed
  included), and the same scaled to the reference machine (yardstick 3.9 steps/s): wall x yardstick / 3.9,
  with the yardstick read when the runs ran (`--run-yardstick`) or else today's.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
import transformers
from torch.profiler import ProfilerActivity, profile

from pipeline.core import device as devices
from pipeline.core.device import autocast
from pipeline.core.rundir import RunDir, read_json
from pipeline.core.truth import DECIDE, Truth
from pipeline.ml.model import build_model, build_tokenizer, n_params
from pipeline.ml.sampling import generate
from pipeline.ml.training import Encoded, encode, padding_mask, train
from pipeline.tools import yardstick as machine_speed
from tasks.addition import ReversedAddition

REFERENCE = 3.9  # yardstick steps/s of the 2-core machine the project's time budgets are stated for
MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def yardstick() -> float:
    """Today's yardstick reading in steps/s, printed as its own first line so every bench output says how fast the
    machine was when it was taken."""
    steps_per_s = machine_speed.reading()
    print(machine_speed.line(steps_per_s), flush=True)
    return steps_per_s


def bare_rate(model: torch.nn.Module, data: Encoded, batch_size: int, steps: int) -> float:
    """Steps/s of the plainest loop on one fixed batch of the same data: forward, backward, AdamW."""
    device = next(model.parameters()).device
    idx = torch.randint(len(data), (batch_size,), generator=torch.Generator().manual_seed(0))
    width = int(data.lengths[idx].max())
    ids, labels = data.input_ids[idx, :width].to(device), data.labels[idx, :width].to(device)
    mask = padding_mask(data.lengths[idx].to(device), width)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        with autocast(device):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def matmul_share(model: torch.nn.Module, data: Encoded, batch_size: int) -> float:
    """Share of the CPU time of a few training steps spent in matrix multiplies (self time, so nothing counts twice)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train(model, [(data, 1.0)], steps=5, batch_size=batch_size, lr=1e-3, warmup=1)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key in MATMULS) / total


def time_to_levels(run: Path) -> dict[int, float | None]:
    """Seconds from the run's start, seed included, until the champion's frontier first reached the seed's
    training length + 1, + 2, + 3 (None: never), read from its events and summary. A seed copied from the cache
    was trained by an earlier run: its recorded training time is added, so a run that found its seed cached
    is timed as a fresh clone would be."""
    summary = read_json(run / "summary.json")
    events = RunDir(run).events()
    seed = next(e for e in events if e["event"] == "stage_finish" and e.get("stage") == "seed")
    start = next(e["time"] for e in events if e["event"] == "run_start") - (seed["seconds"] if seed.get("reused") else 0.0)
    ends = {e["gen"]: e["time"] for e in events if e["event"] == "stage_finish" and e.get("stage") == "verify"}
    base = summary["seed_levels"]
    out: dict[int, float | None] = {}
    for ahead in (1, 2, 3):
        gen = next((g["generation"] for g in summary["generations"] if g["frontier"] >= base + ahead), None)
        out[ahead] = None if gen is None or gen not in ends else round(ends[gen] - start, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--level", type=int, default=6)
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="finished run folders: report their time to seed + 1, + 2, + 3")
    parser.add_argument("--run-yardstick", type=float, help="the yardstick read when those runs ran (default: today's reading; "
                        "the same idle machine read 7.7 and 4.4 steps/s two hours apart)")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    reading = yardstick()
    dev = devices.pick(args.device)
    task = ReversedAddition()
    tok = build_tokenizer(task.alphabet)
    problems = task.sample_upto(args.level, 20000, random.Random(0))
    data = encode(tok, [p.prompt for p in problems], Truth(task).answers(problems, DECIDE))  # training data outside any run, as the seed's
    model = build_model(tok, args.hidden, args.layers, args.heads, seed=0).to(dev)
    print(f"device: {dev}  threads: {torch.get_num_threads()}  params: {n_params(model):,}")
    train(model, [(data, 1.0)], steps=5, batch_size=args.batch_size, lr=1e-3, warmup=1)  # warm-up
    start = time.perf_counter()
    curve = train(model, [(data, 1.0)], steps=args.steps, batch_size=args.batch_size, lr=1e-3, warmup=1)
    seconds = time.perf_counter() - start
    rate, tokens = args.steps / seconds, curve[-1]["tokens"]
    bare = bare_rate(model, data, args.batch_size, args.steps)
    print(f"train: {rate:.2f} steps/s  {tokens / seconds:,.0f} tokens/s  {6 * n_params(model) * tokens / seconds / 1e9:.1f} GFLOP/s "
          f"(6 x params x tokens), batch {args.batch_size}, levels 1..{args.level}")
    print(f"bare loop: {bare:.2f} steps/s on the same model and batch size; ratio loop / bare {rate / bare:.3f} (target >= 0.95)")
    print(f"matrix multiplies: {matmul_share(model, data, args.batch_size):.0%} of a training step's CPU time")
    prompts = [p.prompt for p in task.sample(args.level, 4096, random.Random(1))]
    for temperature, k in ((0.0, 1), (1.0, 5)):
        start = time.perf_counter()
        generate(model, tok, prompts, temperature=temperature, num_samples=k)
        print(f"sample: {len(prompts) * k / (time.perf_counter() - start):,.0f} answers/s at level {args.level} (temperature {temperature}, {k} per prompt)")
    at_run = args.run_yardstick or reading
    for run in args.runs:
        times = time_to_levels(run)
        shown = "  ".join(f"seed+{k}: {'never' if t is None else f'{t:.0f} s'}"
                          + ("" if t is None or at_run is None else f" ({t * at_run / REFERENCE:.0f} s scaled)") for k, t in times.items())
        print(f"run {run}: {shown}")


if __name__ == "__main__":
    main()
