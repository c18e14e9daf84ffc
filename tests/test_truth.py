"""The human-label ledger: every ground-truth read counted, and none at all past the seed under humans=none."""
from __future__ import annotations

import random

import pytest

from pipeline.core.rundir import read_json
from pipeline.core.truth import DECIDE, MEASURE, Truth, TruthForbidden, reading
from pipeline.loop import run_loop
from pipeline.ml.data import load_rows
from pipeline.ml.splits import Splits
from tasks import Problem
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg


class PoisonRead(AssertionError):
    """A true answer was touched outside the ledger's permitted reads."""


class Poison:
    """Stands where a true answer would be: any use of it raises."""

    def _raise(self, *args: object) -> None:
        raise PoisonRead("a true answer was read outside the counted path (pipeline.core.truth)")

    __eq__ = __ne__ = __hash__ = __str__ = __len__ = __iter__ = __getitem__ = __bool__ = __format__ = _raise  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<poison>"


class PoisonedAddition(ReversedAddition):
    """Reversed addition whose true answers exist only inside a read the ledger permitted."""

    def format(self, a: int, b: int) -> Problem:
        prompt = f"{str(a)[::-1]}+{str(b)[::-1]}="
        answer = self.solve(prompt) if reading() else Poison()
        return Problem(prompt, answer, max(len(str(a)), len(str(b))))  # type: ignore[arg-type]

    def solve(self, prompt: str) -> str:
        if not reading():
            raise PoisonRead(f"solve({prompt!r}) called outside the counted path")
        return super().solve(prompt)


POISONED = ["task._target_=tests.test_truth.PoisonedAddition", "plugins.allow=[tests]"]


def test_the_ledger_counts_distinct_labels_per_use_and_refuses_a_forbidden_read():
    task = ReversedAddition()
    items = task.sample(3, 5, random.Random(0))
    truth = Truth(task, readers=["review"], mode="spot_check")
    truth.at(2, "review")
    assert truth.correct(items, [p.answer for p in items], DECIDE) == [True] * 5
    truth.answers(items[:2] + task.sample(4, 1, random.Random(1)), MEASURE)  # two already decided, one new
    assert truth.counts() == {"decided": {"3": 5}, "measured": {"4": 1}}
    truth.at(2, "verify")
    with pytest.raises(TruthForbidden, match="stage 'verify'.*humans=spot_check"):
        truth.answers(items, DECIDE)
    truth.at(2, "audit")  # the shadow audit may always measure
    assert truth.answers(items[:1], MEASURE) == [items[0].answer]
    truth.at(0, "seed")  # and the seed is the human-made phase
    assert truth.answers(items[:1], DECIDE) == [items[0].answer]


def test_the_poisoned_task_catches_a_read_that_bypasses_the_ledger():
    """The guard the end-to-end test relies on: touching an answer, or solving, outside a read raises."""
    task = PoisonedAddition()
    p = task.sample(3, 1, random.Random(0))[0]
    with pytest.raises(PoisonRead):
        _ = p.answer == "123"
    with pytest.raises(PoisonRead):
        task.solve(p.prompt)
    truth = Truth(task)
    assert truth.answers([p], DECIDE) == [ReversedAddition().solve(p.prompt)]


@pytest.mark.slow
def test_humans_none_reads_no_true_answer_past_the_seed_except_the_audit(tmp_path):
    """Every true answer is poisoned outside the ledger's permitted reads, and the ledger permits none past
    the seed but the shadow audit's: a small loop still runs end to end, and its ledger shows zero decided."""
    cfg = make_cfg(tmp_path, "humans=none", *POISONED, "loop.max_generations=2")
    summary = run_loop(cfg, tmp_path / "run")
    assert len(summary["generations"]) == 2
    assert summary["labels_decided"] == 0
    for rec in summary["generations"]:
        assert set(rec["human_labels"]) >= {"weaknesses", "experiment", "curate", "review", "verify", "audit"}
        assert all(v["decided"] == 0 for v in rec["human_labels"].values())
        assert all(v["measured"] == 0 for s, v in rec["human_labels"].items() if s != "audit")
        assert rec["human_labels"]["audit"]["measured"] > 0  # the audit measured the successor and the round
        assert rec["audit"] in ("correct promotion", "false promotion", "false rejection", "correct rejection")
    assert summary["seed_human_labels"]["seed"]["decided"] > 0  # the seed's own data: human input, counted once in gen 0


@pytest.mark.slow
def test_the_default_ledger_counts_exactly_the_labels_each_stage_reads(tmp_path):
    """Counts known in advance from the tiny config: the dev ladder for weaknesses, the pilots' dev items at
    the frontier levels, the review's sample, the test ladder for the gate, curate's candidates (measured), the audit ladder (measured)."""
    cfg = make_cfg(tmp_path, *POISONED, "loop.max_generations=1", "stage.review.max_label_error=1.0")
    run = tmp_path / "run"
    rec = run_loop(cfg, run)["generations"][0]
    splits, ev = Splits(**cfg.splits), cfg.eval
    task = ReversedAddition()
    # each ladder as far as its stage climbed it (the levels it recorded): levels 1..top, every item of each read once
    climbed = {"dev": read_json(run / "gen_1" / "weaknesses" / "weaknesses.json")["per_level_accuracy"],
               "test": read_json(run / "gen_1" / "verify" / "verdict.json")["items"], "audit": read_json(run / "gen_1" / "audit" / "audit.json")["items"]}
    ladder = {s: splits.ladder(task, s, range(1, max(map(int, climbed[s])) + 1), ev.items_per_level, cfg.seed) for s in ("dev", "test", "audit")}
    front = read_json(run / "gen_1" / "weaknesses" / "weaknesses.json")["frontier"]
    levels = [lv for lv in (front, front + 1) if 1 <= lv <= ev.max_level]
    pilot_items = sum(min(cfg.stage.experiment.items_per_level, sum(p.level == lv for p in ladder["dev"])) for lv in levels)
    candidates = len(set(load_rows(run / "gen_1" / "curate" / "judged")["prompt"]))
    kept = read_json(run / "gen_1" / "curate" / "curation.json")["kept"]
    expected = {
        "weaknesses": {"decided": len(ladder["dev"]), "measured": 0},
        "propose": {"decided": 0, "measured": 0}, "build": {"decided": 0, "measured": 0},
        "experiment": {"decided": pilot_items, "measured": 0},
        "interpret": {"decided": 0, "measured": 0}, "select": {"decided": 0, "measured": 0},
        "curate": {"decided": 0, "measured": candidates},
        "review": {"decided": min(cfg.stage.review.sample_size, kept), "measured": 0},
        "train": {"decided": 0, "measured": 0},
        "verify": {"decided": len(ladder["test"]), "measured": 0},
        "audit": {"decided": 0, "measured": len(ladder["audit"])},  # its own ladder: the successor's answers (the seed's were recorded)
    }
    assert rec["human_labels"] == expected
    assert rec["labels_decided"] == len(ladder["dev"]) + pilot_items + min(cfg.stage.review.sample_size, kept) + len(ladder["test"])


def test_spot_checks_only_let_the_review_audit_decide(tmp_path):
    """humans=spot_check: past the seed, the review's sample is the only human label that decides anything."""
    cfg = make_cfg(tmp_path, "humans=spot_check", *POISONED, "judge=none", "loop.max_generations=1", "stage.review.max_label_error=1.0",
                   "loop.stages=[weaknesses,curate,review,train,verify]")
    run = tmp_path / "run"
    (rec,) = run_loop(cfg, run)["generations"]
    kept = read_json(run / "gen_1" / "curate" / "curation.json")["kept"]
    assert {s: v["decided"] for s, v in rec["human_labels"].items() if v["decided"]} == {"review": min(cfg.stage.review.sample_size, kept)}
    assert rec["labels_decided"] == min(cfg.stage.review.sample_size, kept) > 0
    assert rec["human_labels"]["curate"]["measured"] == 0 and rec["judge_precision"] is not None  # measured by the audit instead
