"""The seed cache: trained seeds shared between runs, `<cache_dir>/seed-<key>/`, keyed by every
setting that shapes them.

A cached seed is trusted only when every file matches the content hash in its MANIFEST.json
(written last, inside the same atomic rename); a damaged one is removed and trained again. Runs
that need the same seed at the same time take turns on a lock file per key: the first trains, the
others wait and then reuse it. A cache folder that cannot be written is detected before training,
so the seed is then trained for the run alone instead of being lost at the end.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.rundir import damaged, read_json, tree_hashes, write_json

MANIFEST = "MANIFEST.json"


@dataclass
class Entry:
    path: Path | None  # the cached seed's folder (None: no cache)
    ready: bool  # a verified seed is there
    writable: bool  # a trained seed can be stored there


def seal(folder: Path) -> None:
    """Record the content hash of every file in `folder` (call it last, before the folder is renamed into place)."""
    write_json(folder / MANIFEST, tree_hashes([folder], folder))


def check(folder: Path) -> str | None:
    """Why the cached seed in `folder` cannot be trusted, or None when every file matches its manifest."""
    try:
        manifest = read_json(folder / MANIFEST)
    except FileNotFoundError:
        return "it has no content hash (unfinished, or written by an older version)"
    except ValueError:
        return "its manifest is unreadable"
    return damaged(manifest, folder)


def _writable(folder: Path) -> str | None:
    """None when files can be created in `folder` (created if needed), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return err.strerror or str(err)
    return None


@contextmanager
def claim(cache_dir: str | None, key: str, say: Callable[[str], None]) -> Iterator[Entry]:
    """The cache entry of seed `key`, held for the block so that no other run trains or removes it meanwhile."""
    if not cache_dir:
        yield Entry(None, False, False)
        return
    root = Path(cache_dir)
    path = root / f"seed-{key}"
    why_not = _writable(root)
    if why_not is not None:
        ready = path.is_dir() and check(path) is None
        say(f"warning: cache_dir {root} is not writable ({why_not}): "
            + ("reusing its seed without a lock" if ready else "the seed is trained for this run only and not cached"))
        yield Entry(path, ready, False)
        return
    with open(root / f"seed-{key}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"seed: another run is training seed {key} in {root}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        for scratch in root.glob(f".{path.name}.*.partial"):  # left by a run killed while storing this seed
            shutil.rmtree(scratch, ignore_errors=True)
        problem = check(path) if path.exists() else None
        if problem is not None:
            say(f"seed: not trusting the cached seed {path}: {problem}; training it again")
            shutil.rmtree(path)
        yield Entry(path, path.exists(), True)
