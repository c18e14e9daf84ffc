"""`make bench`: measure and print the speeds the loop depends on (no thresholds, just numbers).

    python -m pipeline.bench [--device auto] [--hidden 64 --layers 4 --heads 4]
"""
from __future__ import annotations

import argparse
import random
import time

import torch
import transformers

from pipeline import device as devices
from pipeline.model import build_model, build_tokenizer, n_params
from pipeline.sampling import generate
from pipeline.training import encode, train
from tasks.addition import ReversedAddition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--level", type=int, default=6)
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    dev = devices.pick(args.device)
    task = ReversedAddition()
    tok = build_tokenizer(task.alphabet)
    problems = task.sample_upto(args.level, 20000, random.Random(0))
    data = encode(tok, [p.prompt for p in problems], [p.answer for p in problems])
    model = build_model(tok, args.hidden, args.layers, args.heads, seed=0).to(dev)
    print(f"device: {dev}  threads: {torch.get_num_threads()}  params: {n_params(model):,}")
    train(model, [(data, 1.0)], steps=5, batch_size=args.batch_size, lr=1e-3, warmup=1)  # warm-up
    start = time.time()
    curve = train(model, [(data, 1.0)], steps=args.steps, batch_size=args.batch_size, lr=1e-3, warmup=1)
    seconds = time.time() - start
    tokens = curve[-1]["tokens"]
    print(f"train: {args.steps / seconds:.2f} steps/s  {tokens / seconds:,.0f} tokens/s  "
          f"{6 * n_params(model) * tokens / seconds / 1e9:.1f} GFLOP/s (6 x params x tokens), batch {args.batch_size}, levels 1..{args.level}")
    prompts = [p.prompt for p in task.sample(args.level, 4096, random.Random(1))]
    for temperature, k in ((0.0, 1), (1.0, 5)):
        start = time.time()
        generate(model, tok, prompts, temperature=temperature, num_samples=k)
        seconds = time.time() - start
        print(f"sample: {len(prompts) * k / seconds:,.0f} answers/s at level {args.level} (temperature {temperature}, {k} per prompt)")


if __name__ == "__main__":
    main()
