import json
import random
import shutil
import subprocess
import sys

import pytest
import torch

from pipeline.components.scorers import TrueAnswers
from pipeline.core.truth import MEASURE, Truth
from pipeline.ml.evaluate import correctness
from pipeline.ml.model import CheckpointError, build_model, build_tokenizer, load
from tasks.addition import ReversedAddition


def test_tokenizer_is_character_level_with_bos_and_round_trips():
    tok = build_tokenizer(ReversedAddition.alphabet)
    ids = tok("321+54=")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "3", "2", "1", "+", "5", "4", "="]
    assert tok.decode(tok("8610", add_special_tokens=False)["input_ids"]) == "8610"


def test_model_has_no_positional_encoding():
    """Scaling position ids changes a RoPE model's output; a NoPE model must not notice.
    (A shift cannot tell the two apart: RoPE is shift-invariant.)"""
    tok = build_tokenizer(ReversedAddition.alphabet)
    model = build_model(tok, hidden=32, layers=2, heads=2, seed=0).eval()
    ids = torch.tensor([tok("321+54=")["input_ids"]])
    pos = torch.arange(ids.shape[1])[None]
    with torch.no_grad():
        a = model(input_ids=ids, position_ids=pos).logits
        b = model(input_ids=ids, position_ids=pos * 7).logits
    assert torch.allclose(a, b, atol=1e-6)
    assert not any(model.config.no_rope_layers)


def test_generation_folder_loads_with_stock_transformers_only(adder):
    """A generation's model answers problems with plain AutoModel/AutoTokenizer and no project import."""
    problems = ReversedAddition().sample(1, 50, random.Random(3))
    script = f"""
import json, sys
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained({str(adder)!r})
tok = AutoTokenizer.from_pretrained({str(adder)!r})
prompts = json.loads(sys.stdin.read())
enc = tok(prompts, return_tensors="pt", padding=True)
out = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
print(json.dumps(tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)))
assert not any(m.startswith(("pipeline", "tasks")) for m in sys.modules), "project code was imported"
"""
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps([p.prompt for p in problems]),
                            capture_output=True, text=True, check=True, cwd="/")
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    accuracy = sum(a == p.answer for a, p in zip(answers, problems)) / len(problems)
    assert accuracy >= 0.9


def test_project_loader_agrees_with_stock_generation(adder):
    problems = ReversedAddition().sample(1, 100, random.Random(4))
    truth = Truth(ReversedAddition())
    assert sum(correctness(*load(adder), ReversedAddition(), problems, TrueAnswers(), lambda its, ans: truth.correct(its, ans, MEASURE))) >= 90


def test_missing_and_corrupt_checkpoints_give_clear_errors(tmp_path, adder):
    with pytest.raises(CheckpointError, match="no model checkpoint"):
        load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((adder / name).read_bytes())
    (broken / "model.safetensors").write_bytes((adder / "model.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load(broken)


def test_models_are_saved_and_loaded_as_safetensors_only(tmp_path, adder):
    """A pickle checkpoint can run code when loaded: the project writes and reads safetensors only."""

    assert (adder / "model.safetensors").is_file() and not list(adder.glob("*.bin"))
    pickled = tmp_path / "pickled"
    shutil.copytree(adder, pickled)
    model, _ = load(adder)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="expected config.json and model.safetensors"):
        load(pickled)
