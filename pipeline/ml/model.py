"""The model family: a NoPE decoder from a stock `transformers` config, and a character tokenizer.

Both are saved with `save_pretrained`, so a generation's folder loads with plain
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` and no project code.
NoPE (no positional encoding) is what lets a model answer past its training length: RoPE models
score 0% one digit further, so their self-labels are all wrong and no judge can rescue them (Lee et al. 2025
train NoPE models for the same reason).
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, processors
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, SmolLM3Config

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def build_tokenizer(alphabet: str) -> PreTrainedTokenizerFast:
    """One token per character; `tokenizer(prompt)` prepends BOS, as generation needs."""
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, *sorted(set(alphabet))])}
    # BPE with no merges over an un-split string is exactly character-level.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    core.decoder = decoders.Fuse()  # "4","0" decodes to "40", not "4 0"
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS, padding_side="left"
    )


def build_model(tokenizer: PreTrainedTokenizerFast, hidden: int, layers: int, heads: int, seed: int) -> torch.nn.Module:
    """A fresh NoPE decoder: SmolLM3 with every layer's rotary embedding switched off."""
    config = SmolLM3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        no_rope_layers=[0] * layers,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, folder: Path) -> None:
    """Weights as safetensors plus the tokenizer, side by side."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


class CheckpointError(RuntimeError):
    """A model folder that is missing or cannot be read."""


def load(folder: Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """Load a generation's model and tokenizer; a clear error when the folder is broken."""
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise CheckpointError(f"no model checkpoint in {folder} (expected config.json and model.safetensors)")
    try:
        model = AutoModelForCausalLM.from_pretrained(folder).to(device)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as err:  # a truncated or corrupt file surfaces as many different exceptions
        raise CheckpointError(f"checkpoint in {folder} is corrupt: {err}") from err
    model.eval()
    return model, tokenizer
