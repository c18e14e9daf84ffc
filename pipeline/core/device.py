"""Where tensors live: one GPU when there is one (with bf16 autocast), else the CPU."""
from __future__ import annotations

import contextlib

import torch


def pick(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when available; `cpu`/`cuda` force one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; plain fp32 on the CPU, where it keeps runs exactly repeatable."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision(device: torch.device) -> str:
    """The dtype answers are computed in on `device` (what `autocast` gives), recorded with every verdict."""
    return "bfloat16" if device.type == "cuda" else "float32"


def decode_batch(device: torch.device) -> int:
    """Prompts per batch when answering: a GPU's time per decoding step is flat up to thousands of rows,
    so it takes 4096 (a 32k round in 8 batches, not 64); the CPU's grows with the batch, and 512 keeps
    CPU results identical to earlier runs (left padding, hence the floating-point sums, depends on it)."""
    return 4096 if device.type == "cuda" else 512


def micro_batches(device: torch.device, rows: int) -> int:
    """Length-sorted pieces a training batch of `rows` is split into (`training.batch_backward`): a CPU's step time
    grows with rows x padded width, and three pieces of a 256-row batch took 9-15% less time a step on the seed's
    1..5-digit problems and 17-23% less on a generation's (half a 7..8-digit round, half the pool), at two and one
    threads. Each piece also costs a forward and backward call of its own, which outweighs what it saves under ~80 rows
    (at two threads: 64 rows 20 ms whole, 26 in three pieces; 128 rows 28 against 34), so a smaller batch stays whole,
    as it does on a GPU, whose step time is flat in the batch."""
    return 1 if device.type == "cuda" else max(1, min(3, rows // 80))
