"""`make bench`'s time to seed + k: seed included, whether the run trained its seed or copied it from the cache."""
from __future__ import annotations

import json

from pipeline.tools.bench import time_to_levels


def _run(root, seed_start: float, seed_end: float, reused: bool, verified: dict[int, tuple[float, int]]):
    """A finished run's events and summary: the seed trained (or copied) between the two times, then per generation
    the time its verify finished and the frontier it left."""
    root.mkdir()
    events = [{"time": 1000.0, "event": "run_start", "resumed": False},
              {"time": seed_start, "event": "stage_start", "gen": 0, "stage": "seed"},
              {"time": seed_end, "event": "stage_finish", "gen": 0, "stage": "seed", "seconds": 400.0, "reused": reused}]
    events += [{"time": t, "event": "stage_finish", "gen": g, "stage": "verify"} for g, (t, _) in verified.items()]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    gens = [{"generation": g, "frontier": f} for g, (_, f) in verified.items()]
    (root / "summary.json").write_text(json.dumps({"seed_levels": 5, "generations": gens}))
    return root


def test_time_to_seed_plus_k_includes_the_seed_trained_here_or_in_an_earlier_run(tmp_path):
    gens = {1: (1500.0, 6), 2: (1600.0, 7)}
    trained = _run(tmp_path / "trained", 1000.0, 1400.0, reused=False, verified=gens)
    assert time_to_levels(trained) == {1: 500.0, 2: 600.0, 3: None}
    # the same run with its seed copied from the cache in 3 s: the 400 s its training took are counted, the copy's not twice
    cached = _run(tmp_path / "cached", 1000.0, 1003.0, reused=True, verified={1: (1100.0, 6), 2: (1200.0, 7)})
    assert time_to_levels(cached) == {1: 500.0, 2: 600.0, 3: None}


def test_the_yardstick_reads_a_positive_speed_and_leaves_torch_threads_as_it_found_them():
    import torch

    from pipeline.tools import yardstick

    before = torch.get_num_threads()
    assert yardstick.reading(repeats=1, steps=2) > 0
    assert torch.get_num_threads() == before


def test_bench_prints_the_yardstick_line_first_and_returns_the_reading(monkeypatch, capsys):
    from pipeline.tools import bench, yardstick

    monkeypatch.setattr(yardstick, "reading", lambda: 12.34)
    assert bench.yardstick() == 12.34
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("yardstick: 12.3 steps/s")
