"""The run folder: atomic writes, the event log, and which stages have finished.

Every stage writes into `gen_<k>/<stage>/` through these helpers and is marked done only
after its outputs are in place, so a killed run resumes at the first unfinished stage.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DONE = "DONE.json"


def write_json(path: Path, data: Any) -> None:
    """Write JSON via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a scratch folder that replaces `path` only when the block finishes without error."""
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


class RunDir:
    """One run's folder: `gen_<k>/<stage>/`, `events.jsonl`, `summary.json`, `report.md`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, gen: int, stage: str) -> Path:
        return self.root / f"gen_{gen}" / stage

    def is_done(self, gen: int, stage: str) -> bool:
        return (self.stage_dir(gen, stage) / DONE).is_file()

    def mark_done(self, gen: int, stage: str, summary: dict[str, Any]) -> None:
        write_json(self.stage_dir(gen, stage) / DONE, summary)

    def done_summary(self, gen: int, stage: str) -> dict[str, Any]:
        return read_json(self.stage_dir(gen, stage) / DONE)

    def event(self, kind: str, **fields: Any) -> None:
        """Append one JSON line; a line is written whole or not at all (O_APPEND, one write)."""
        line = json.dumps({"time": round(time.time(), 3), "event": kind, **fields}) + "\n"
        with open(self.root / "events.jsonl", "a") as f:
            f.write(line)

    def events(self) -> list[dict[str, Any]]:
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
