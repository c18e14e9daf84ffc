"""What earlier data a generation trains on (`data=`): every promoted round (each an equal share, each level an equal share,
or drawn by rows), or only the latest.

Gerstgrasser et al. (2024, arXiv 2404.01413) found that self-training collapses when each round's
data replaces the last and does not when it accumulates; `data=replace` against the others makes that one override.
Every stage that reads earlier data (build, experiment, curate, review, train, verify) reads it through
`Context.pool_paths()` or `Context.earlier()`, so a policy changes them all at once; `groups` says how
training draws it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset

from pipeline.ml.data import load_rows


@dataclass(frozen=True)
class Group:
    """Part of the earlier data, drawn as one pool: the rows of `paths` (only those of `level`, when set), with its share
    of the earlier part of a batch."""

    paths: list[Path]
    share: float
    level: int | None = None

    def rows(self, rows: Dataset) -> Dataset:
        """This group's rows of `rows`, the pooled datasets of `paths`."""
        return of_level(rows, self.level)


def of_level(rows: Dataset, level: int | None) -> Dataset:
    """The rows of `level`; every row when it is None."""
    return rows if level is None else rows.select(np.flatnonzero(np.asarray(rows["level"]) == level))


class Accumulate:
    """The seed's ground truth plus every promoted generation's curated round, oldest first, drawn as one pool:
    each row as likely as any other."""

    def paths(self, rounds: list[Path]) -> list[Path]:
        """The folders of `rounds` (every promoted generation's curated data, the seed's first) that the pool holds."""
        return rounds

    def groups(self, rounds: list[Path]) -> list[Group]:
        """How the earlier share of a batch is drawn: groups of `paths`, each pooled, with their shares (summing to 1)."""
        return [Group(self.paths(rounds), 1.0)]


class Balanced(Accumulate):
    """The same data, every promoted round and the seed's ground truth an equal share of the earlier data (the default).
    Drawn by rows, the seed's 200,000 rows leave the ~8,000 of each round a few percent of a batch, and the levels
    learned a round or two ago slip below the gate's regression bar (docs/stages.md, the train stage)."""

    def groups(self, rounds: list[Path]) -> list[Group]:
        paths = [p for p in self.paths(rounds) if len(load_rows(p))]
        return [Group([p], 1.0 / len(paths)) for p in paths]


class PerLevel(Accumulate):
    """The same data, every level in it an equal share of the earlier data, whichever rounds hold it. Why: a round that
    spans many levels (`round=span`) is one share under `balanced` however wide, and the seed's ground truth draws its
    levels as the longer of two uniform operand lengths (level 1 is 1 in 25 of its rows): the short levels slip
    (docs/notebook/2026-12-07-reach-round-span.md)."""

    def groups(self, rounds: list[Path]) -> list[Group]:
        paths = self.paths(rounds)
        levels = sorted({int(v) for p in paths for v in set(load_rows(p)["level"])})
        return [Group(paths, 1.0 / len(levels), level) for level in levels]


class Replace(Accumulate):
    """The latest promoted generation's round only (the seed's ground truth while the seed is champion):
    each round replaces the last. An empty round is passed over: a pool needs rows, and the seed's has them."""

    def paths(self, rounds: list[Path]) -> list[Path]:
        return next([p] for p in reversed(rounds) if len(load_rows(p)))
