"""gate_compare's bookkeeping: which ground truth each generation is scored against, and the table's counts."""
from __future__ import annotations

from omegaconf import OmegaConf

from pipeline.core.records import Audit, SeedAudit, Verdict
from pipeline.core.rundir import write_json
from pipeline.tools.gate_compare import table, truths
from tests.conftest import record_json


def _gen(run, gen, audit=None, verdict=None):
    if audit is not None:
        write_json(run / f"gen_{gen}" / "audit" / "audit.json", record_json(SeedAudit if gen == 0 else Audit, **audit))
    if verdict is not None:
        write_json(run / f"gen_{gen}" / "verify" / "verdict.json", record_json(Verdict, **verdict))


def test_truth_comes_from_the_audit_and_from_a_truth_gate_only(tmp_path):
    run = tmp_path / "run"
    _gen(run, 0, audit={"successor_frontier": 5})
    _gen(run, 1, audit={"champion_gen": 0, "truth_promoted": True, "successor_frontier": 6},
         verdict={"champion_gen": 0, "promoted": False, "successor_frontier": 5})  # the audit wins over the run's own verdict
    _gen(run, 2, audit={"champion_gen": 1, "outcome": "no successor"})  # blocked: nothing to compare
    _gen(run, 3, verdict={"champion_gen": 1, "promoted": False, "successor_frontier": 6})  # no audit: the verdict, if it scored truth
    label_free = OmegaConf.create({"scorer": {"_target_": "pipeline.components.scorers.SelfConsistency"}})
    truth = OmegaConf.create({"scorer": {"_target_": "pipeline.components.scorers.TrueAnswers"}})
    assert [(g, t["truth_promoted"]) for g, t in truths(run, label_free)] == [(1, True)]
    assert [(g, t["truth_promoted"], t["champion_gen"]) for g, t in truths(run, truth)] == [(1, True, 0), (3, False, 1)]
    assert [g for g, _ in truths(run, OmegaConf.create({}))] == [1, 3]  # a run from before scorers existed gated on truth


def test_the_table_counts_each_outcome_per_scorer():
    rows = [{"scorer": "a", "outcome": o, "estimated_frontier": e, "true_frontier": 6}
            for o, e in [("false promotion", 6), ("correct promotion", 5), ("false promotion", 6)]]
    rows.append({"scorer": "b", "outcome": "false rejection", "estimated_frontier": 6, "true_frontier": 6})
    lines = table(rows).splitlines()
    assert lines[2] == "| a | 3 | 1 | 2 | 0 | 0 | 2/3 |"
    assert lines[3] == "| b | 1 | 0 | 0 | 1 | 0 | 1/1 |"
