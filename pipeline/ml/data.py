"""Problem sets on disk, in the `datasets` format (`save_to_disk` / `load_from_disk`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets import Dataset, DatasetInfo, concatenate_datasets, load_from_disk
from datasets.table import InMemoryTable

from pipeline.core.rundir import atomic_dir

datasets.disable_progress_bars()


def from_columns(rows: dict[str, list[Any]]) -> Dataset:
    """An in-memory dataset, fingerprinted by its content's bytes. `Dataset.from_dict` hashes the new
    object's whole state with dill instead, which fails on Python 3.12 with current pyarrow
    ("Can't pickle <class 'MonthDayNano'>", seen on a GPU machine) before anything is saved."""
    table = pa.table(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return Dataset(InMemoryTable(table), fingerprint=hashlib.sha256(sink.getvalue()).hexdigest()[:16])


def save_rows(rows: dict[str, list[Any]], path: Path) -> None:
    """Save columns as a dataset, atomically (a killed run never leaves half a dataset)."""
    with atomic_dir(Path(path)) as tmp:
        from_columns(rows).save_to_disk(str(tmp))


def load_rows(path: Path) -> Dataset:
    """Load a saved dataset; an empty one (which `load_from_disk` cannot read back) comes back empty."""
    path = Path(path)
    if not json.loads((path / "state.json").read_text())["_data_files"]:
        return from_columns({name: [] for name in DatasetInfo.from_directory(str(path)).features})
    return load_from_disk(str(path))


def load_joined(paths: list[Path]) -> Dataset | None:
    """Saved datasets as one, the empty ones passed over; None when every one is empty."""
    parts = [rows for rows in map(load_rows, paths) if len(rows)]
    return concatenate_datasets(parts) if parts else None
