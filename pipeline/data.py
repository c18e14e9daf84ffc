"""Problem sets on disk, in the `datasets` format (`save_to_disk` / `load_from_disk`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetInfo, load_from_disk

from pipeline.rundir import atomic_dir

datasets.disable_progress_bars()


def save_rows(rows: dict[str, list[Any]], path: Path) -> None:
    """Save columns as a dataset, atomically (a killed run never leaves half a dataset)."""
    with atomic_dir(Path(path)) as tmp:
        Dataset.from_dict(rows).save_to_disk(str(tmp))


def load_rows(path: Path) -> Dataset:
    """Load a saved dataset; an empty one (which `load_from_disk` cannot read back) comes back empty."""
    path = Path(path)
    if not json.loads((path / "state.json").read_text())["_data_files"]:
        return Dataset.from_dict({name: [] for name in DatasetInfo.from_directory(str(path)).features})
    return load_from_disk(str(path))
