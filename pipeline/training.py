"""The training loop: AdamW, warmup then a held peak then decay, loss on the answer and EOS only.

Plain PyTorch on purpose (TRL dropped its iterative SFT trainer; this loop is short enough to read).
Batches are drawn from weighted sources, so "half new data, half earlier data" is one argument.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import PreTrainedTokenizerFast

from pipeline.device import autocast


@dataclass
class Encoded:
    """A set of prompt/answer pairs as padded token ids with the loss mask already applied."""

    input_ids: torch.Tensor  # (n, T), right-padded
    labels: torch.Tensor  # -100 except answer tokens and EOS
    lengths: torch.Tensor  # real length of each row
    pad_id: int

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def encode(tokenizer: PreTrainedTokenizerFast, prompts: Iterable[str], answers: Iterable[str]) -> Encoded:
    """BOS + prompt + answer + EOS; only the answer and EOS count in the loss."""
    prompts, answers = list(prompts), list(answers)  # also takes `datasets` columns
    if not prompts:
        empty = torch.zeros((0, 1), dtype=torch.long)
        return Encoded(empty, empty.clone(), torch.zeros(0, dtype=torch.long), tokenizer.pad_token_id)
    p_ids = tokenizer(prompts)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    rows = [p + a + [tokenizer.eos_token_id] for p, a in zip(p_ids, a_ids)]
    width = max(map(len, rows), default=1)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (p, row) in enumerate(zip(p_ids, rows)):
        input_ids[i, : len(row)] = torch.tensor(row)
        labels[i, len(p) : len(row)] = torch.tensor(row[len(p) :])
    return Encoded(input_ids, labels, torch.tensor([len(r) for r in rows]), tokenizer.pad_token_id)


def _fit(rows: torch.Tensor, width: int, fill: int) -> torch.Tensor:
    """Cut or right-pad rows to `width` columns (sources are padded to different widths)."""
    if rows.shape[1] >= width:
        return rows[:, :width]
    return torch.nn.functional.pad(rows, (0, width - rows.shape[1]), value=fill)


def lr_at(step: int, steps: int, lr: float, warmup: int, decay: float = 0.3, min_ratio: float = 0.1) -> float:
    """Warmup-stable-decay: linear warmup to `lr`, hold it, then cosine decay to `min_ratio * lr`
    over the last `decay` share of the steps. Holding the peak matters here: NoPE addition is
    learned in a sudden drop of the loss that a schedule decaying from the start can miss."""
    if step < warmup:
        return lr * (step + 1) / warmup
    start = steps - int(decay * steps)
    if step < start:
        return lr
    progress = (step - start) / max(1, steps - start)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    model: torch.nn.Module,
    sources: list[tuple[Encoded, float]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup: int,
    weight_decay: float = 0.1,
    seed: int = 0,
    log: Callable[[int, dict[str, float]], None] | None = None,
    log_every: int = 25,
    description: str = "train",
) -> list[dict[str, float]]:
    """Train in place for `steps` steps; returns the logged curve (loss, lr, tokens seen so far).

    Each batch takes examples from the sources in proportion to their weights
    (sampled with replacement from a seeded generator, so a run repeats exactly).
    """
    device = next(model.parameters()).device
    sources = [(data, w) for data, w in sources if len(data) and w > 0]
    if not sources:
        raise ValueError("nothing to train on: every data source is empty or has weight 0")
    total = sum(w for _, w in sources)
    counts = [round(batch_size * w / total) for _, w in sources]
    counts[-1] = batch_size - sum(counts[:-1])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    model.train()
    curve: list[dict[str, float]] = []
    tokens = 0
    columns = [TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.4f}"), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=steps, loss=float("nan"))
        for step in range(steps):
            parts = [torch.randint(len(d), (c,), generator=gen) for (d, _), c in zip(sources, counts)]
            width = max(int(d.lengths[i].max()) for (d, _), i in zip(sources, parts) if len(i))
            ids = torch.cat([_fit(d.input_ids[i], width, d.pad_id) for (d, _), i in zip(sources, parts)]).to(device)
            labels = torch.cat([_fit(d.labels[i], width, -100) for (d, _), i in zip(sources, parts)]).to(device)
            lengths = torch.cat([d.lengths[i] for (d, _), i in zip(sources, parts)]).to(device)
            tokens += int(lengths.sum())
            mask = (torch.arange(width, device=device)[None, :] < lengths[:, None]).long()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup)
            with autocast(device):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if step % log_every == 0 or step == steps - 1:
                point = {"step": step, "loss": loss.item(), "lr": optimizer.param_groups[0]["lr"], "tokens": tokens}
                curve.append(point)
                bar.update(task, loss=point["loss"])
                if log:
                    log(step, point)
            bar.advance(task)
    model.eval()
    return curve
