import random

import pytest
import torch

from pipeline.ml.model import build_model, build_tokenizer
from pipeline.ml.training import batch_backward, encode, lr_at, padding_mask, train
from tasks.addition import ReversedAddition


def _setup():
    task = ReversedAddition()
    tok = build_tokenizer(task.alphabet)
    problems = task.sample_upto(2, 512, random.Random(0))
    return tok, encode(tok, [p.prompt for p in problems], [p.answer for p in problems])


def test_loss_mask_covers_answer_and_eos_only():
    tok, _ = _setup()
    enc = encode(tok, ["321+54="], ["8610"])
    labelled = [t for t in enc.labels[0].tolist() if t != -100]
    assert tok.decode(labelled[:-1]) == "8610" and labelled[-1] == tok.eos_token_id
    assert enc.lengths.tolist() == [1 + 7 + 4 + 1]


def test_encode_matches_the_tokenizer_row_by_row():
    from datasets import Dataset

    from tasks.reverse import StringTransform

    for task in (ReversedAddition(), StringTransform()):
        tok = build_tokenizer(task.alphabet)
        problems = task.sample_upto(6, 300, random.Random(1))
        rows = Dataset.from_dict({"prompt": [p.prompt for p in problems], "answer": [p.answer for p in problems]})
        enc = encode(tok, rows["prompt"], rows["answer"])  # a datasets column, as the stages pass it
        for i, p in enumerate(problems):
            prompt = tok(p.prompt)["input_ids"]
            row = prompt + tok(p.answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            assert enc.lengths[i] == len(row)
            assert enc.input_ids[i].tolist() == row + [tok.pad_token_id] * (enc.input_ids.shape[1] - len(row))
            assert enc.labels[i].tolist() == [-100] * len(prompt) + row[len(prompt):] + [-100] * (enc.input_ids.shape[1] - len(row))


def test_encode_rejects_characters_outside_the_alphabet():
    tok, _ = _setup()
    with pytest.raises(ValueError, match="does not know"):
        encode(tok, ["12+x="], ["3"])


def test_length_sorted_pieces_give_the_whole_batch_gradient():
    """The CPU trains a batch in pieces of similar length, each cut to its own width: the loss and every
    gradient must be the whole padded batch's (a per-piece mean or a piece cut short of its longest row would
    break this)."""
    task = ReversedAddition()
    tok = build_tokenizer(task.alphabet)
    problems = task.sample_upto(7, 64, random.Random(3))  # rows of 1..7 digits: pieces of different widths
    enc = encode(tok, [p.prompt for p in problems], [p.answer for p in problems])
    model = build_model(tok, 32, 2, 2, seed=0)
    whole = model(input_ids=enc.input_ids, attention_mask=padding_mask(enc.lengths, enc.input_ids.shape[1]), labels=enc.labels).loss
    whole.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    loss = batch_backward(model, enc.input_ids, enc.labels, enc.lengths, torch.device("cpu"), pieces=3)
    assert loss.item() == pytest.approx(whole.item(), rel=1e-6)
    for got, want in zip((p.grad for p in model.parameters()), expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_training_changes_parameters_and_lowers_loss():
    tok, data = _setup()
    model = build_model(tok, hidden=32, layers=2, heads=2, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    curve = train(model, [(data, 1.0)], steps=60, batch_size=32, lr=3e-3, warmup=5, log_every=10)
    assert curve[-1]["loss"] < 0.7 * curve[0]["loss"]
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert curve[-1]["tokens"] > 0


def test_training_is_deterministic_for_a_seed():
    tok, data = _setup()
    weights = []
    for _ in range(2):
        model = build_model(tok, hidden=32, layers=1, heads=2, seed=3)
        train(model, [(data, 0.5), (data, 0.5)], steps=5, batch_size=16, lr=1e-3, warmup=1, seed=9)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_schedule_warms_up_then_decays():
    lrs = [lr_at(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] < lrs[9] == 1.0 == lrs[60] and lrs[80] < 1.0 and abs(lrs[-1] - 0.1) < 0.01
