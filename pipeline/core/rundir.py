"""The run folder: crash-consistent writes, the event log, one writer, and which stages have finished.

Every file the run depends on is written the way databases and git write theirs: to a unique
temporary name, flushed and fsynced, renamed over the target (atomic on POSIX), and the folder
fsynced. A stage is marked done only after its outputs are in place, and its done marker records
a content hash of every output file, so a resumed run can tell a finished output from one that
was torn or damaged afterwards and run that stage again.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

DONE = "DONE.json"
LEDGER = "human_labels.json"  # in every stage folder: the ground-truth labels the stage read (pipeline.core.truth)
LOCK = ".lock"
JUDGE = "judge"  # where judges keep what they build (committee members, peers, a verifier), keyed by what shaped it
FORK = "fork.json"  # in a run forked from another (pipeline.tools.fork): the parent, the generation, the overrides


class RunDirError(RuntimeError):
    """The run folder cannot be used: locked by another loop, or not writable."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a unique temporary file, fsynced and renamed: a reader (or a
    resume after a kill) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder` (what `save_pretrained` and `save_to_disk` leave unsynced)."""
    for sub, _, files in os.walk(folder):
        for name in files:
            fd = os.open(Path(sub) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(sub))


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a scratch folder (unique name beside `path`) that replaces `path`, fsynced, only when
    the block finishes without error; on error the scratch folder is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    try:
        yield tmp
        fsync_tree(tmp)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it. A line torn by a kill is ended first, so it stays a line of its
    own (which readers skip) instead of swallowing the next record."""
    with open(path, "ab+") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write(line.encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The JSON records of a .jsonl file, and the numbers of the torn lines (a kill during their write) it skipped."""
    path = Path(path)
    if not path.exists():
        return [], []
    records, torn = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            torn.append(n)
    return records, torn


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(folders: Iterable[Path], relative_to: Path) -> dict[str, str]:
    """sha256 of every file under `folders`, keyed by its path relative to `relative_to`."""
    out = {}
    for folder in folders:
        for sub, _, files in os.walk(folder):
            for name in files:
                p = Path(sub) / name
                out[str(p.relative_to(relative_to))] = file_hash(p)
    return dict(sorted(out.items()))


def damaged(hashes: dict[str, str], root: Path) -> str | None:
    """Why files no longer match their recorded hashes (the first mismatch), or None when all match."""
    for rel, digest in hashes.items():
        p = root / rel
        if not p.is_file():
            return f"{rel} is missing"
        if file_hash(p) != digest:
            return f"{rel} has changed since the stage finished (truncated or overwritten)"
    return None


class RunDir:
    """One run's folder: `gen_<k>/<stage>/`, `events.jsonl`, `summary.json`, `report.md`.

    `lock()` makes this process the folder's only writer; a second loop on the same folder is refused."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._warned: set[int] = set()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock file (`fcntl.flock`, with the owner's pid in it) for the block.

        The kernel drops a flock when its holder dies, so the lock of a killed run is simply taken
        over; a run that ends cleanly empties the file, so a pid left in it names a run that was killed."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            f = open(self.root / LOCK, "a+")
        except OSError as err:
            raise RunDirError(f"cannot write to the run folder {self.root}: {err.strerror}") from err
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                owner = f.read().strip() or "unknown"
                raise RunDirError(f"{self.root} is in use by another loop (pid {owner}); wait for it to finish or stop it") from None
            f.seek(0)
            previous = f.read().strip()
            if previous:
                print(f"taking over the lock of {self.root} from pid {previous} (killed before it finished)")
            self._own(f, f"{os.getpid()}\n")
            for scratch in [*self.root.glob(".*.tmp"), *self.root.glob(".hydra/.*.tmp")]:  # a killed writer's temporary files
                scratch.unlink(missing_ok=True)
            try:
                yield
            finally:
                self._own(f, "")

    def _own(self, f: IO[str], text: str) -> None:
        try:
            f.seek(0)
            f.truncate()
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        except OSError as err:
            raise RunDirError(f"cannot write to the run folder {self.root}: {err.strerror}") from err

    def stage_dir(self, gen: int, stage: str) -> Path:
        return self.root / f"gen_{gen}" / stage

    def _done_record(self, gen: int, stage: str) -> dict[str, Any] | None:
        path = self.stage_dir(gen, stage) / DONE
        try:
            return read_json(path)
        except (OSError, ValueError):
            return None

    def check_done(self, gen: int, stage: str) -> tuple[bool, str | None]:
        """(done, why not): done when the marker is intact and every output still has its recorded hash;
        `why` is None for a stage that simply never finished, else what is wrong with its outputs."""
        path = self.stage_dir(gen, stage) / DONE
        if not path.exists():
            return False, None
        record = self._done_record(gen, stage)
        if not isinstance(record, dict) or "outputs" not in record or "summary" not in record:
            return False, f"its done marker {path.relative_to(self.root)} is unreadable"
        why = damaged(record["outputs"], self.root)
        return why is None, why

    def is_done(self, gen: int, stage: str) -> bool:
        return self.check_done(gen, stage)[0]

    def mark_done(self, gen: int, stage: str, summary: dict[str, Any], outputs: Iterable[Path] | None = None) -> None:
        """Record that the stage finished, with the hash of every file under `outputs` (its own folder by default)."""
        folders = list(outputs) if outputs is not None else [self.stage_dir(gen, stage)]
        hashes = {k: v for k, v in tree_hashes(folders, self.root).items() if Path(k).name != DONE}
        write_json(self.stage_dir(gen, stage) / DONE, {"summary": summary, "outputs": hashes})

    def done_summary(self, gen: int, stage: str) -> dict[str, Any]:
        record = self._done_record(gen, stage)
        if record is None:
            raise FileNotFoundError(f"{self.stage_dir(gen, stage) / DONE} is missing or unreadable")
        return record["summary"]

    def event(self, kind: str, **fields: Any) -> None:
        """Append one JSON line to events.jsonl (fsynced)."""
        append_line(self.root / "events.jsonl", json.dumps({"time": round(time.time(), 3), "event": kind, **fields}))

    def events(self) -> list[dict[str, Any]]:
        """The event log; a torn line is skipped, with a warning the first time it is seen."""
        records, torn = read_lines(self.root / "events.jsonl")
        for n in sorted(set(torn) - self._warned):
            print(f"warning: skipping torn line {n} of {self.root / 'events.jsonl'} (a kill during its write)")
        self._warned |= set(torn)
        return records
