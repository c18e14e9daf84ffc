"""Batched KV-cache generation: the champion answering prompts, greedily or with temperature."""
from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast

from pipeline.core.device import autocast, decode_batch
from pipeline.ml.training import encode, padding_mask


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[str],
    *,
    batch_size: int | None = None,
    temperature: float = 0.0,
    num_samples: int = 1,
    seed: int = 0,
) -> list[list[str]]:
    """For each prompt, `num_samples` answers (text up to EOS). temperature 0 is greedy.

    Prompts are sorted by length so batches carry little left padding; the order of the
    returned answers matches `prompts`.
    """
    device = next(model.parameters()).device
    batch_size = batch_size or decode_batch(device)
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[str]] = [[] for _ in prompts]
    generator_seed = seed
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [prompts[i] for i in idx]
        enc = tokenizer(batch, return_tensors="pt", padding=True).to(device)
        sampling = temperature > 0
        torch.manual_seed(generator_seed + start)
        with autocast(device):
            ids = model.generate(
                **enc,
                max_new_tokens=max(map(len, batch)) + 2,
                do_sample=sampling,
                temperature=temperature if sampling else None,
                top_k=None,
                top_p=None,
                num_return_sequences=num_samples,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = ids[:, enc["input_ids"].shape[1] :].tolist()
        for row, tokens in enumerate(new):
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
            out[idx[row // num_samples]].append(tokenizer.decode(tokens, skip_special_tokens=True))
    return out


def greedy(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, prompts: list[str], batch_size: int | None = None) -> list[str]:
    """One greedy answer per prompt."""
    return [a[0] for a in generate(model, tokenizer, prompts, batch_size=batch_size)]


@torch.no_grad()
def confidence(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, prompts: list[str], answers: list[str], batch_size: int | None = None
) -> list[float]:
    """The model's lowest probability for any token of `answer` (EOS included) after `prompt`:
    how sure it is of its weakest digit. One teacher-forced forward pass, no sampling."""
    device = next(model.parameters()).device
    batch_size = batch_size or decode_batch(device)
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        enc = encode(tokenizer, prompts[start : start + batch_size], answers[start : start + batch_size])
        ids, labels = enc.input_ids.to(device), enc.labels.to(device)
        with autocast(device):
            logits = model(input_ids=ids, attention_mask=padding_mask(enc.lengths.to(device), ids.shape[1])).logits[:, :-1].float()
        target = labels[:, 1:]
        logp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        logp = torch.where(target != -100, logp, torch.zeros_like(logp))
        out += logp.min(1).values.exp().tolist()
    return out
