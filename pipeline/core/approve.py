"""Human approval of a stage's decision: ask on the terminal, time the wait, record the answer.

After a stage named in `loop.approve` has done its work, and before it is marked done, the loop shows
the stage's decision and asks whether to accept it; a refusal applies the stage's `veto`. The answer
is written to `gen_<k>/<stage>/approval.json` (keys: stage, accepted, answer, source, seconds_waiting,
decision), so it is hashed with the stage's outputs, a resumed run reuses it instead of asking twice,
and a human-label ledger can count it as a human touch. Without a terminal (CI, a pipe, a cluster
job) the run never waits: `approve.policy` answers.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.context import Context
from pipeline.core.rundir import read_json, write_json
from pipeline.stages.base import Stage

APPROVAL = "approval.json"
ANSWERS = {"y": True, "yes": True, "n": False, "no": False}


def terminal() -> Callable[[str], str] | None:
    """`input` when stdin is a terminal, else None: nobody could answer, so the policy does."""
    return input if sys.stdin.isatty() else None


def recorded(folder: Path) -> dict[str, Any] | None:
    """The answer recorded in a stage folder (by a run killed before the stage was marked done), or None."""
    try:
        return read_json(folder / APPROVAL)
    except (OSError, ValueError):
        return None


@dataclass
class Approver:
    """`ask` shows a prompt and returns the reply (None: no terminal); `policy` ("accept" or "reject") answers then."""

    ask: Callable[[str], str] | None
    policy: str = "accept"

    def review(self, ctx: Context, stage: Stage, summary: dict[str, Any], earlier: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record whether the stage's decision is accepted and apply its veto if not; return the summary.

        `earlier`, an answer recorded before the run stopped, is reused when it was given on the same
        decision (the stages are seeded, so a rerun decides the same): a human is not asked twice."""
        lines = stage.decision(ctx, summary)
        where = f"  gen {ctx.gen} {stage.name}"
        if earlier is not None and earlier.get("decision") == lines:
            record = earlier
            print(f"{where}: {'accepted' if record['accepted'] else 'vetoed'} earlier ({record['source']}), not asked again")
        elif self.ask is None:
            record = approval(stage.name, lines, self.policy == "accept", None, "policy", 0.0)
            print(f"{where}: no terminal to ask, approve.policy={self.policy}: {'accepted' if record['accepted'] else 'vetoed'}")
        else:
            print("\n".join([f"{where} decided:", *(f"    {line}" for line in lines)]))
            accepted, reply, waited = ask_until_answered(self.ask, stage.name)
            record = approval(stage.name, lines, accepted, reply, "terminal", waited)
        write_json(ctx.out(stage.name) / APPROVAL, record)
        return summary if record["accepted"] else stage.veto(ctx, summary)


class NoAnswer(Exception):
    """The terminal closed (Ctrl-D) before an approval was answered: the run stops with the stage unfinished."""


def ask_until_answered(ask: Callable[[str], str], name: str) -> tuple[bool, str, float]:
    """(accepted, the reply, seconds waited): asks again until the reply is y, yes, n or no (any case).
    End of input is no answer: neither accept nor veto is guessed, and the stage is asked again on resume."""
    start = time.monotonic()
    prompt = f"  accept {name}'s decision? [y/n] "
    while True:
        try:
            reply = ask(prompt)
        except EOFError:
            raise NoAnswer(f"end of input before {name}'s decision was accepted or vetoed: the run stops here, "
                           "and running it again on the same folder asks again") from None
        if reply.strip().lower() in ANSWERS:
            return ANSWERS[reply.strip().lower()], reply, time.monotonic() - start
        prompt = "  please answer y or n: "


def approval(name: str, lines: list[str], accepted: bool, answer: str | None, source: str, waited: float) -> dict[str, Any]:
    """approval.json's content: keep these keys, the human-label ledger reads them."""
    return {"stage": name, "accepted": accepted, "answer": answer, "source": source,
            "seconds_waiting": round(waited, 3), "decision": lines}
