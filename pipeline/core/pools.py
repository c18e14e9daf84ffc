"""What earlier data a generation trains on (`data=`): every promoted round (each an equal share, or drawn by rows), or only the latest.

Gerstgrasser et al. (2024, arXiv 2404.01413) found that self-training collapses when each round's
data replaces the last and does not when it accumulates; `data=replace` against the others makes that one override.
Every stage that reads earlier data (build, experiment, curate, review, train, verify) reads it through
`Context.pool_paths()` or `Context.earlier()`, so a policy changes them all at once; `groups` says how
training draws it.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.ml.data import load_rows


class Accumulate:
    """The seed's ground truth plus every promoted generation's curated round, oldest first, drawn as one pool:
    each row as likely as any other."""

    def paths(self, rounds: list[Path]) -> list[Path]:
        """The folders of `rounds` (every promoted generation's curated data, the seed's first) that the pool holds."""
        return rounds

    def groups(self, rounds: list[Path]) -> list[tuple[list[Path], float]]:
        """How the earlier share of a batch is drawn: groups of `paths`, each pooled, with their shares (summing to 1)."""
        return [(self.paths(rounds), 1.0)]


class Balanced(Accumulate):
    """The same data, every promoted round and the seed's ground truth an equal share of the earlier data (the default).
    Drawn by rows, the seed's 200,000 rows leave the ~8,000 of each round a few percent of a batch, and the levels
    learned a round or two ago slip below the gate's regression bar (docs/stages.md, the train stage)."""

    def groups(self, rounds: list[Path]) -> list[tuple[list[Path], float]]:
        paths = [p for p in self.paths(rounds) if len(load_rows(p))]
        return [([p], 1.0 / len(paths)) for p in paths]


class Replace(Accumulate):
    """The latest promoted generation's round only (the seed's ground truth while the seed is champion):
    each round replaces the last. An empty round is passed over: a pool needs rows, and the seed's has them."""

    def paths(self, rounds: list[Path]) -> list[Path]:
        return next([p] for p in reversed(rounds) if len(load_rows(p)))
