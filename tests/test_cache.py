"""The seed cache: verified by content hash, one trainer per key, others wait and reuse."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from pipeline.core.cache import claim, seal
from pipeline.core.rundir import atomic_dir, write_json


def _store(entry_path: Path, payload: str = "weights") -> None:
    with atomic_dir(entry_path) as tmp:
        (tmp / "model").mkdir()
        (tmp / "model" / "model.safetensors").write_text(payload)
        write_json(tmp / "train.json", {"final_loss": 0.1})
        seal(tmp)


def test_a_stored_seed_is_reused_and_a_damaged_one_is_not(tmp_path):
    said: list[str] = []
    with claim(str(tmp_path), "abc", said.append) as entry:
        assert not entry.ready and entry.writable and entry.path == tmp_path / "seed-abc"
        _store(entry.path)
    with claim(str(tmp_path), "abc", said.append) as entry:
        assert entry.ready and said == []
    (tmp_path / "seed-abc" / "model" / "model.safetensors").write_text("weig")  # truncated
    with claim(str(tmp_path), "abc", said.append) as entry:
        assert not entry.ready and not entry.path.exists()
    assert said == ["seed: not trusting the cached seed " + str(tmp_path / "seed-abc")
                    + ": model/model.safetensors has changed since the stage finished (truncated or overwritten); training it again"]


def test_a_seed_without_a_content_hash_is_not_trusted(tmp_path):
    (tmp_path / "seed-abc" / "model").mkdir(parents=True)
    (tmp_path / "seed-abc" / "model" / "model.safetensors").write_text("weights")
    said: list[str] = []
    with claim(str(tmp_path), "abc", said.append) as entry:
        assert not entry.ready
    assert "it has no content hash" in said[0]


def test_two_runs_needing_one_seed_train_it_once(tmp_path):
    """The second run waits for the first to finish training, then reuses its seed."""
    events: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with claim(str(tmp_path), "k", events.append) as entry:
            first_in.set()
            time.sleep(1.0)  # training
            _store(entry.path)
            events.append("first stored")

    def second() -> None:
        first_in.wait()
        with claim(str(tmp_path), "k", events.append) as entry:
            events.append(f"second ready={entry.ready}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert events == [f"seed: another run is training seed k in {tmp_path}; waiting for it", "first stored", "second ready=True"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]  # unique scratch names, cleaned up


def test_no_cache_dir_means_no_cache():
    with claim(None, "k", print) as entry:
        assert entry.path is None and not entry.ready and not entry.writable
