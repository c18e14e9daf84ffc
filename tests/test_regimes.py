"""The regimes' parts: a verify stage that always promotes, replace vs accumulate, the presets, the report over seeds."""
from __future__ import annotations

from pipeline.gate import Gate
from pipeline.stages.verify import AlwaysPromote
from tests.test_gate import CHAMPION, correct_up_to, ladder


def test_always_promote_promotes_a_worse_successor_and_keeps_what_the_gate_measured():
    items = ladder()
    champion = correct_up_to(items, CHAMPION)
    worse = correct_up_to(items, {**CHAMPION, 2: 0.5, 3: 0.4})  # forgets two mastered levels
    gate = Gate()
    verdict = AlwaysPromote(gate).decide(items, champion, worse)
    refused = gate.decide(items, champion, worse)
    assert not refused.promoted and verdict.promoted
    assert "rejected" in verdict.reason and refused.reason in verdict.reason
    assert verdict.successor_accuracy[2] == 0.5 and verdict.regressions == refused.regressions and set(verdict.regressions) >= {2, 3}
    assert verdict.successor_frontier < verdict.champion_frontier

