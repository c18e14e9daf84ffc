"""The shadow audit: a ground-truth gate on a ladder of its own, at the self-verdict's level, reusing a champion's
recorded answers only when they were computed the same way."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from pipeline.components.gate import Gate
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Verdict
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.ml.evaluate import bits
from pipeline.stages.audit import ShadowAudit
from tests.conftest import make_cfg, record_json


def generation_1(root: Path, adder: Path) -> Context:
    """Generation 1 of a run whose seed and successor are the same 1-digit adder; the gate rejected the successor at level 0.03."""
    cfg = make_cfg(root, "eval.max_level=2", "eval.items_per_level=20")
    run = RunDir(root / "run")
    for gen in (0, 1):
        shutil.copytree(adder, run.stage_dir(gen, "train") / "model")
    write_json(run.stage_dir(1, "verify") / "verdict.json", record_json(Verdict, promoted=False, alpha=0.03))
    return Context.build(cfg, run, torch.device("cpu"), NoLogger(), gen=1)


@pytest.mark.parametrize("device, evaluations", [("cpu", 1), ("cuda", 2)])
def test_a_champions_audit_answers_are_reused_only_when_computed_the_same_way(tmp_path, adder, monkeypatch, device, evaluations):
    ctx = generation_1(tmp_path, adder)
    items = ctx.ladder("audit", [1, 2])  # the cap: levels 1..2
    recorded = {"successor_correct": bits([True] * len(items)), "device": device, "dtype": "float32"}
    write_json(ctx.run.stage_dir(0, "audit") / "audit.json", recorded)
    calls = []
    real = Context.correctness

    def counted(self, *args, **kwargs):
        calls.append(args[2])
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Context, "correctness", counted)
    summary = ShadowAudit(Gate(min_items=5)).run(ctx)
    # every evaluation on one level of the audit ladder, once a model and level
    assert len(calls) == 2 * evaluations and all(c == [p for p in items if p.level == c[0].level] for c in calls)
    audit = read_json(ctx.out("audit") / "audit.json")
    assert audit["device"] == "cpu" and audit["dtype"] == "float32" and len(audit["successor_correct"]) == len(items)
    assert audit["alpha"] == 0.03 and audit["self_promoted"] is False and summary["outcome"] == audit["outcome"]
    assert audit["items"] == {str(lv): sum(p.level == lv for p in items) for lv in (1, 2)}

