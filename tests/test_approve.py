"""Human approval at the stages in `loop.approve`: scripted answers, no terminal, and a resume that does not ask twice."""
from __future__ import annotations

import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.components.gate import Decision, Gate
from pipeline.core.approve import Approver, NoAnswer
from pipeline.core.records import Recipe, Selected, load
from pipeline.core.rundir import write_json
from pipeline.loop import run_loop
from pipeline.stages import Stage
from pipeline.stages.review import Review
from pipeline.stages.select import GainPerCompute
from tests.conftest import make_cfg, record_json

#: the tiny chain up to a promotion the veto can undo (the oracle's labels pass the review)
PROMOTING = ("judge=oracle", "stage.review.max_label_error=1.0", "loop.max_generations=1", f"plugins.allow=[{__name__.split('.')[0]}]",
             f"stage.verify.gate._target_={__name__}.AlwaysPromote")


class AlwaysPromote(Gate):
    """Promotes every successor: a tiny run's gate seldom does, and a veto needs a promotion to undo."""

    def decide(self, items, champion, successor, alpha=None, earlier=None) -> Decision:
        return replace(super().decide(items, champion, successor, alpha, earlier), promoted=True, reason="the test gate promotes everything")


class Scripted:
    """Answers from a list, keeping the prompts it was shown; fails when asked more than scripted."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.prompts = list(answers), []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def vetoed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Scripted]:
    """One tiny generation: select accepted ("Y"), verify vetoed ("n" after a reply that is neither)."""
    tmp = tmp_path_factory.mktemp("approve")
    ask = Scripted("Y", "maybe", "n")
    summary = run_loop(make_cfg(tmp, *PROMOTING, "loop.approve=[select,verify]"), tmp / "run", ask=ask)
    return tmp / "run", summary, ask


def test_scripted_answers_accept_select_and_veto_a_promotion(vetoed):
    run, summary, ask = vetoed
    assert len(ask.prompts) == 3 and "select" in ask.prompts[0] and "verify" in ask.prompts[1] and "y or n" in ask.prompts[2]
    sel, ver = _json(run / "gen_1" / "select" / "approval.json"), _json(run / "gen_1" / "verify" / "approval.json")
    assert {k: sel[k] for k in ("stage", "accepted", "answer", "source")} == {"stage": "select", "accepted": True, "answer": "Y", "source": "terminal"}
    assert {k: ver[k] for k in ("stage", "accepted", "answer", "source")} == {"stage": "verify", "accepted": False, "answer": "n", "source": "terminal"}
    assert ver["seconds_waiting"] >= 0 and ver["decision"][0] == "promote the successor: the test gate promotes everything"
    # accepted: the selection stands and is what trained
    selected = _json(run / "gen_1" / "select" / "selected.json")
    assert "vetoed" not in selected["reason"] and selected["recipe"] == _json(run / "gen_1" / "train" / "train.json")["recipe"]
    # vetoed: the gate promoted, the verdict now does not, in the file, the done marker and the summary
    verdict = _json(run / "gen_1" / "verify" / "verdict.json")
    assert not verdict["promoted"] and verdict["reason"].startswith("promotion vetoed by a human (the gate: the test gate promotes")
    assert _json(run / "gen_1" / "verify" / "DONE.json")["summary"]["promoted"] is False
    (gen,) = summary["generations"]
    assert gen["status"] == "rejected" and not gen["promoted"] and gen["selected"]["id"] == selected["id"]
    assert [(a["stage"], a["accepted"], a["source"]) for a in gen["approvals"]] == [("select", True, "terminal"), ("verify", False, "terminal")]
    assert gen["human_touches"] == summary["human_touches"] == 2  # each answer a human gave is a touch in the ledger


def test_a_resumed_run_reuses_the_recorded_answer(vetoed, tmp_path):
    """Killed after the answer but before verify was marked done: verify runs again, nobody is asked again."""
    run = tmp_path / "run"
    shutil.copytree(vetoed[0], run)
    (run / "gen_1" / "verify" / "DONE.json").unlink()
    before = (run / "gen_1" / "verify" / "approval.json").read_text()
    summary = run_loop(make_cfg(tmp_path, *PROMOTING, "loop.approve=[select,verify]"), run, ask=Scripted())
    assert (run / "gen_1" / "verify" / "approval.json").read_text() == before
    assert not _json(run / "gen_1" / "verify" / "verdict.json")["promoted"] and not summary["generations"][0]["promoted"]


def test_without_a_terminal_the_policy_answers_without_waiting(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a pipe: input() would not wait for a human
    cfg = make_cfg(tmp_path, *PROMOTING, "loop.stages=[weaknesses,curate,train,verify]", "loop.approve=[verify]", "approve.policy=reject")
    summary = run_loop(cfg, tmp_path / "run")
    record = _json(tmp_path / "run" / "gen_1" / "verify" / "approval.json")
    assert record["source"] == "policy" and record["answer"] is None and not record["accepted"] and record["seconds_waiting"] == 0.0
    assert not summary["generations"][0]["promoted"]
    assert summary["human_touches"] == 0  # the policy answered: no human touched the run
    out = capsys.readouterr().out
    assert "no terminal to ask, approve.policy=reject: vetoed" in out and "vetoed at verify" in out


class Echo(Stage):
    name = "echo"
    vetoable = True

    def run(self, ctx):  # pragma: no cover - never run
        return {}

    def veto(self, ctx, summary):
        return {**summary, "vetoed": True}


def test_an_answer_given_on_another_decision_is_not_reused(tmp_path):
    ctx = SimpleNamespace(gen=1, out=lambda name: tmp_path / name)
    earlier = {"stage": "echo", "accepted": True, "answer": "y", "source": "terminal", "seconds_waiting": 1.0, "decision": ["x=1"]}
    ask = Scripted("no")
    assert Approver(ask, "accept").review(ctx, Echo(), {"x": 2, "seconds": 0.1}, earlier) == {"x": 2, "seconds": 0.1, "vetoed": True}
    assert len(ask.prompts) == 1 and _json(tmp_path / "echo" / "approval.json")["decision"] == ["x=2"]


def test_the_review_and_select_vetoes_block_training_and_keep_the_champions_recipe(tmp_path):
    champion = Recipe.from_json(record_json(Recipe, steps=10, lr=1e-3))
    ctx = SimpleNamespace(gen=1, out=lambda name: tmp_path / name, champion_recipe=lambda: champion,
                          read=lambda record: load(record, tmp_path / record.stage),
                          write=lambda record: write_json(tmp_path / record.stage / record.file, record.to_json()))
    write_json(tmp_path / "review" / "review.json", {"audit": None, "blocked": False, "reasons": []})
    assert Review().veto(ctx, {"items": 3}) == {"items": 3, "blocked": "vetoed by a human"}
    assert _json(tmp_path / "review" / "review.json") == {"audit": None, "blocked": True, "reasons": ["vetoed by a human"]}
    write_json(tmp_path / "select" / "selected.json",
               record_json(Selected, id="far", recipe=record_json(Recipe, steps=40, lr=1e-3), reason="it won", predicted_gain=0.2))
    assert GainPerCompute().veto(ctx, {"selected": "far", "predicted_gain": 0.2}) == {"selected": "champion", "predicted_gain": 0.0}
    selected = _json(tmp_path / "select" / "selected.json")
    assert selected["id"] == "champion" and selected["recipe"] == champion.to_json() and "vetoed by a human" in selected["reason"]


def test_end_of_input_at_the_prompt_stops_without_guessing_and_records_no_answer(tmp_path):
    ctx = SimpleNamespace(gen=1, out=lambda name: tmp_path / name)

    def closed(prompt: str) -> str:
        raise EOFError  # what `input` raises on Ctrl-D

    with pytest.raises(NoAnswer, match="asks again"):
        Approver(closed, "accept").review(ctx, Echo(), {"x": 2, "seconds": 0.1})
    assert not (tmp_path / "echo" / "approval.json").exists()  # nothing recorded: a resume asks again
