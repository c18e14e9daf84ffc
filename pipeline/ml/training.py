"""The training loop: AdamW, warmup then a held peak then decay, loss on the answer and EOS only.

Plain PyTorch on purpose (TRL dropped its iterative SFT trainer; this loop is short enough to read).
Batches are drawn from weighted sources, so "half new data, half earlier data" is one argument.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import PreTrainedTokenizerFast

from pipeline.core.device import autocast, micro_batches


class NonFiniteLoss(FloatingPointError):
    """Training met a NaN or infinite loss (raised only when `train(stop_on_nonfinite=True)`), before that step updates the weights."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"non-finite loss {loss} at step {step}")
        self.step, self.loss = step, loss


class NothingToTrain(ValueError):
    """Every data source is empty or has weight 0, e.g. the judge kept no label and the recipe's `new_share` is 1.
    Raised before the first step (`step` 0), so a stage records a failed generation as it does a non-finite loss."""

    step = 0


@dataclass
class Encoded:
    """A set of prompt/answer pairs as padded token ids with the loss mask already applied."""

    input_ids: torch.Tensor  # (n, T), right-padded
    labels: torch.Tensor  # -100 except answer tokens and EOS
    lengths: torch.Tensor  # real length of each row
    pad_id: int

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def char_table(tokenizer: PreTrainedTokenizerFast) -> np.ndarray:
    """Code point -> token id for every non-special token, which in this project's tokenizer is
    one character each (-1 where a character has no token)."""
    special = set(tokenizer.all_special_tokens)
    chars = {t: i for t, i in tokenizer.get_vocab().items() if t not in special}
    if any(len(t) != 1 for t in chars):
        raise ValueError("encode needs a character-level tokenizer (one character per token)")
    table = np.full(max(map(ord, chars), default=0) + 1, -1, dtype=np.int64)
    for t, i in chars.items():
        table[ord(t)] = i
    return table


def encode(tokenizer: PreTrainedTokenizerFast, prompts: Sequence[str], answers: Sequence[str]) -> Encoded:
    """BOS + prompt + answer + EOS; only the answer and EOS count in the loss.

    Vectorised over `char_table` (what the tokenizer itself does, character by character): the
    200k-row pool encodes in well under a second, where the tokenizer's batch call and a row loop
    took ~12 s every generation. A `datasets` column is read in one slice, not row by row."""
    prompts, answers = list(prompts[:]), list(answers[:])
    n = len(prompts)
    if not n:
        empty = torch.zeros((0, 1), dtype=torch.long)
        return Encoded(empty, empty.clone(), torch.zeros(0, dtype=torch.long), tokenizer.pad_token_id)
    table = char_table(tokenizer)
    codes = np.frombuffer("".join(p + a for p, a in zip(prompts, answers)).encode("utf-32-le"), dtype=np.uint32)
    tokens = table[np.minimum(codes, len(table) - 1)]
    bad = (codes >= len(table)) | (tokens < 0)
    if bad.any():
        raise ValueError(f"characters the tokenizer does not know: {sorted({chr(c) for c in codes[bad]})}")
    p_len = np.fromiter(map(len, prompts), dtype=np.int64, count=n)
    lengths = p_len + np.fromiter(map(len, answers), dtype=np.int64, count=n) + 2  # + BOS + EOS
    cols = np.arange(lengths.max())[None, :]
    input_ids = np.full((n, cols.shape[1]), tokenizer.pad_token_id, dtype=np.int64)
    input_ids[:, 0] = tokenizer.bos_token_id
    input_ids[(cols >= 1) & (cols < lengths[:, None] - 1)] = tokens  # row-major fill = concatenation order
    input_ids[np.arange(n), lengths - 1] = tokenizer.eos_token_id
    labels = np.full_like(input_ids, -100)
    answer = (cols > p_len[:, None]) & (cols < lengths[:, None])
    labels[answer] = input_ids[answer]
    return Encoded(torch.from_numpy(input_ids), torch.from_numpy(labels), torch.from_numpy(lengths), tokenizer.pad_token_id)


def padding_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """1 over each row's real tokens, 0 over its right padding: the attention mask of every forward
    pass on `Encoded` rows (training, teacher-forced scoring, build's check)."""
    return (torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]).long()


def train_flops(params: int, tokens: int) -> float:
    """The usual 6 x parameters x tokens estimate of training compute."""
    return 6.0 * params * tokens


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


def batch_backward(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor, device: torch.device,
                   pieces: int) -> torch.Tensor:
    """Accumulate one batch's gradient and return its loss. With `pieces` > 1 (`device.micro_batches`) the rows are
    sorted by length and cut into that many pieces, each to its own width; each piece's loss is its summed token
    losses over the whole batch's answer tokens, so the gradient is the whole padded batch's up to float rounding.
    One piece is the batch whole, exactly as it always was trained."""
    groups = torch.argsort(lengths).chunk(pieces) if pieces > 1 else [slice(None)]
    targets = int((labels[:, 1:] != -100).sum()) if pieces > 1 else None  # the tokens the shifted loss counts; None: its mean
    loss = torch.zeros((), device=device)
    for rows in groups:
        width = int(lengths[rows].max())
        with autocast(device):
            part = model(input_ids=ids[rows, :width].to(device), attention_mask=padding_mask(lengths[rows].to(device), width),
                         labels=labels[rows, :width].to(device), num_items_in_batch=targets).loss
        part.backward()
        loss += part.detach()
    return loss


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
    stop_on_nonfinite: bool = False,
    learned: Callable[[int], bool] | None = None,
    finished: Callable[[int], bool] | None = None,
    check_every: int = 100,
    decay: float = 0.3,
) -> list[dict[str, float]]:
    """Train in place for `steps` steps; returns the logged curve (loss, lr, tokens seen so far).

    Each batch takes examples from the sources in proportion to their weights
    (sampled with replacement from a seeded generator, so a run repeats exactly).
    With `stop_on_nonfinite`, a NaN or infinite loss raises NonFiniteLoss (pilots and build's trial
    step leave it off: they record a divergence instead).
    With `learned`, `steps` is a cap: the peak lr is held and `learned(step)` is asked every
    `check_every` steps; once it says yes, the decay runs over the same share of the run as
    usual and training ends. The loss drop in which NoPE addition is learned comes at very
    different steps for different seeds and machines, so a fixed count is either too short
    for some or wasted on others.
    With `finished`, `finished(step)` is asked every `check_every` steps of the decay; once it says
    yes, training ends there: the rest of the decay would only polish what is already done.
    """
    device = next(model.parameters()).device
    sources = [(data, w) for data, w in sources if len(data) and w > 0]
    if not sources:
        raise NothingToTrain("nothing to train on: every data source is empty or has weight 0")
    total = sum(w for _, w in sources)
    counts = [round(batch_size * w / total) for _, w in sources]
    counts[-1] = batch_size - sum(counts[:-1])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    pieces = micro_batches(device, batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    model.train()
    curve: list[dict[str, float]] = []
    tokens = 0
    columns = [TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.4f}"), TimeRemainingColumn()]
    console = Console()
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:  # no blank line per bar in a log file
        task = bar.add_task(description, total=steps, loss=float("nan"))
        step = 0
        while step < steps:
            parts = [torch.randint(len(d), (c,), generator=gen) for (d, _), c in zip(sources, counts)]
            width = max(int(d.lengths[i].max()) for (d, _), i in zip(sources, parts) if len(i))
            ids = torch.cat([_fit(d.input_ids[i], width, d.pad_id) for (d, _), i in zip(sources, parts)])
            labels = torch.cat([_fit(d.labels[i], width, -100) for (d, _), i in zip(sources, parts)])
            lengths = torch.cat([d.lengths[i] for (d, _), i in zip(sources, parts)])
            tokens += int(lengths.sum())  # counted on the CPU: on a GPU this would wait for the step each time
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup, decay)
            optimizer.zero_grad(set_to_none=True)
            loss = batch_backward(model, ids, labels, lengths, device, pieces)
            if stop_on_nonfinite and not math.isfinite(loss.item()):
                raise NonFiniteLoss(step, loss.item())
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if (step + 1) % check_every == 0 and step + 1 < steps:
                decaying = step + 1 >= steps - int(decay * steps)
                check = finished if decaying else learned
                if check and check(step + 1):
                    # learned: decay from here, as a run of this length would; finished: end here
                    steps = step + 1 if decaying else step + 1 + math.ceil((step + 1) * decay / (1 - decay))
                    bar.update(task, total=steps)
                model.train()  # a check may have switched it to eval mode
            if step % log_every == 0 or step == steps - 1:
                point = {"step": step, "loss": loss.item(), "lr": optimizer.param_groups[0]["lr"], "tokens": tokens}
                curve.append(point)
                bar.update(task, loss=point["loss"])
                if log:
                    log(step, point)
            bar.advance(task)
            step += 1
    model.eval()
    return curve
