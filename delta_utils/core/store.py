"""Artifact store: content hashes, atomic writes, and keyed record caches.

Layout of one profile's run folder::

    runs/<profile>/<stage>/            stage outputs + the executed notebook
    runs/<profile>/<stage>/manifest.json   what the stage wrote, with content hashes
    runs/<profile>/cache/*.sqlite      per-item caches (one row per model call)

Every long loop writes each result as soon as it exists, in an SQLite
transaction keyed by a hash of everything that determines it, so a killed run
loses at most the item in flight and a rerun redoes nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def stable_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(*parts: Any, n: int = 16) -> str:
    """Hash of JSON-serialisable parts (dict key order does not matter)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(stable_json(p).encode())
        h.update(b"\x00")
    return h.hexdigest()[:n]


def hash_files(paths: Iterable[Path], root: Path | None = None) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        name = str(p.relative_to(root)) if root else p.name
        h.update(name.encode() + b"\x00")
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Build a directory under a temporary name; it appears at `target` only when complete."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a writer that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two processes converting the same model wait for each other)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class RecordCache:
    """A keyed, append-only record store in SQLite: one JSON record per key.

    `put` commits at once (a crash loses nothing already put); a key is written
    once (a rerun of the same item is a cache hit, never a duplicate).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Switching a fresh file to WAL needs an exclusive lock, and SQLite answers "database is locked"
        # at once (no busy wait) when several processes (the ranks of a torchrun) open it together.
        # So the set-up is serialised across processes; reads and writes afterwards use SQLite's own locking.
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, kind TEXT, record TEXT NOT NULL)"
            )
            self._db.commit()

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM records WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                q = f"SELECT key, record FROM records WHERE key IN ({','.join('?' * len(chunk))})"
                for k, r in self._db.execute(q, chunk):
                    out[k] = json.loads(r)
        return out

    def items(self, kind: str | None = None) -> dict[str, dict]:
        """All records (of one kind, if given), by key."""
        q, args = "SELECT key, record FROM records", ()
        if kind is not None:
            q, args = q + " WHERE kind=?", (kind,)
        with self._lock:
            return {k: json.loads(r) for k, r in self._db.execute(q, args)}

    def put(self, key: str, record: dict, kind: str = "") -> None:
        text = stable_json(record)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO records (key, kind, record) VALUES (?, ?, ?)", (key, kind, text)
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RecordCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
