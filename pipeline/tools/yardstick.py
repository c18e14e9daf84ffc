"""How fast is this machine today? A fixed PyTorch workload shaped like Successor's training step (a 4-layer
decoder of width 64, a batch of 256 x 24 tokens, AdamW, fp32, 2 threads) that uses none of the project's own
code, so readings taken on different days and machines compare the machines, not versions of Successor.

    .venv/bin/python -m pipeline.tools.yardstick      # prints "yardstick: N steps/s (...)"; `make bench` prints it first

A machine's speed varies within a day, so read it beside any timing you report. To compare a wall time
with another machine's, scale it by (your reading / theirs).
"""
from __future__ import annotations

import platform
import time

import torch


def describe_cpu() -> str:
    """The vector instructions that decide most of this workload's speed, as AVX-512, AVX2 or other."""
    flags = open("/proc/cpuinfo").read() if platform.system() == "Linux" else ""
    return "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "other"


def reading(repeats: int = 3, steps: int = 20) -> float:
    """Training steps per second of the fixed workload: the best of `repeats` timings of `steps` steps each,
    after 5 warm-up steps. The best, not the mean, because other processes only ever slow a timing down."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the reference machines have 2 cores: more threads would read a bigger machine as faster
    try:
        gen = torch.Generator().manual_seed(0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            layer = torch.nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True, norm_first=True)
            model = torch.nn.Sequential(torch.nn.Embedding(16, 64), torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False),
                                        torch.nn.Linear(64, 16))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randint(0, 16, (256, 24), generator=gen)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(24)

        def step() -> None:
            h = model[1](model[0](x), mask=mask, is_causal=True)
            loss = torch.nn.functional.cross_entropy(model[2](h).flatten(0, 1), x.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(5):
            step()
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rates.append(steps / (time.perf_counter() - start))
        return max(rates)
    finally:
        torch.set_num_threads(threads)


def line(steps_per_s: float) -> str:
    """The reading as `make bench` and this module print it."""
    return (f"yardstick: {steps_per_s:.1f} steps/s (best of 3; {describe_cpu()}, torch {torch.__version__}, "
            f"{platform.processor() or platform.machine()})")


if __name__ == "__main__":
    print(line(reading()))
