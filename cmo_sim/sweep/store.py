"""Resumable sweep stores: a directory with a manifest and one file per finished chunk.

Layout of a store directory::

    manifest.json          what was run (sweep spec, design hash, steps, seed, theory hash,
                           record, chunk size, format), its ``identity`` (a SHA-256 of what was
                           run) and one record per committed chunk: its run range, row count,
                           size and the SHA-256 of its content
    design.npy             the unit design, exactly
    chunk-00000.parquet    Parquet stores: the chunk's per-run summary
    chunk-00000.zarr/      Zarr stores: the chunk's Dataset (summary and trajectories)
    zarr.json, <variable>/ Zarr stores, once every chunk is finished: the whole sweep as one
                           Zarr group at the store's root, so ``xarray.open_zarr(store)`` opens
                           it (dim ``run``; the design's factors, ``point``, ``replicate`` and
                           ``scenario`` as coordinates; meaning and unit of every variable in
                           its attributes; what was run in the group's ``cmo_sim_sweep``); the
                           manifest's ``root`` records the size and SHA-256 of each of its files
    .writer.lock           while a run writes the store: the writer's host, pid and start time

Writing. Every file is written under a temporary name that names its writer (``.<name>.tmp-
<host>-<pid>-<token>``) and moved into place with ``os.replace``, so a chunk file either is
complete or does not exist, whenever the process is killed. A chunk is committed when its file
is in place and its record is in the manifest. Each chunk file also carries, in its own
metadata, the store's identity, its index and its run range. The root group is written last:
each chunk, checked against its record, is appended along ``run`` to a temporary group (memory
holds one chunk, however many there are), whose entries are then moved into the root,
``zarr.json`` after its variables; it is written again whenever it is missing or damaged.

One writer at a time. A writer holds ``.writer.lock`` (an OS lock on the file, and the
writer's host, pid and start time in it) from :meth:`SweepStore.prepare` to
:meth:`SweepStore.release`. A second writer is refused with :class:`StoreLockedError`. A lock
left by a writer that died (same host, its pid no longer running) is taken over, with a
:class:`StoreWarning`. A writer removes only its own temporaries and those of dead writers on
its host, never those of a running one.

Verification (:meth:`SweepStore.inspect`, :meth:`SweepStore.load`). Always: the manifest's
layout (chunk count, each record's run range and row count against the chunk size), that every
recorded chunk exists with its recorded size, that no chunk file is unrecorded or unexpected,
and, for every chunk read, that it belongs to this store (identity), is the chunk it is named
as, and holds exactly its runs. With ``verify="full"`` also the SHA-256 of each chunk's
content. Problems are reported by file name with :class:`StoreIntegrityError`.

Reading (:meth:`SweepStore.load`). A chunk's summary is read into memory; a Zarr chunk's
trajectories are Dask arrays over its folder, read when they are used, so a store of any
number of runs is opened with the memory of its summary.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import socket
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from cmo_sim.results import SUMMARY_FIELDS, TRAJECTORY_VARIABLES
from cmo_sim.sweep.executors import ChunkOutput, tidy_chunk
from cmo_sim.theory import Theory

try:  # POSIX: the writer's lock is an OS lock on the lock file, released when it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock file alone (create-exclusive)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK",
    "MANIFEST",
    "VERIFY_LEVELS",
    "StoreIntegrityError",
    "StoreLockedError",
    "StoreProblem",
    "StoreWarning",
    "SweepStore",
    "check_verify",
    "store_format",
    "theory_hash",
]

MANIFEST = "manifest.json"
DESIGN = "design.npy"
LOCK = ".writer.lock"
#: Version 2 records each chunk (run range, rows, size, SHA-256) and the store's identity;
#: version 1 stores (no records) are read with a warning and upgraded when resumed.
STORE_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_CHUNK = re.compile(r"chunk-([0-9]+)\.(parquet|zarr)")
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp-(?P<host>.+)-(?P<pid>[0-9]+)-(?P<token>[0-9a-f]{8})")
#: Temporaries of cmo-sim versions before writers named their temporaries (no owner known).
_LEGACY_TEMPORARY = (".chunk-", f".{DESIGN}.", f".{MANIFEST}.", ".root.")
_HOST = socket.gethostname()
#: A chunk file at least this large is hashed in a thread while it is parsed.
_HASH_IN_THREAD = 1 << 20
#: Bytes read at a time when a large file is hashed.
_READ_BLOCK = 1 << 22

#: Verification levels of :func:`cmo_sim.open_sweep` and :func:`cmo_sim.run_sweep`.
VERIFY_LEVELS = ("full", "quick")
Verify = Literal["full", "quick"]

#: Manifest entries compared on resume, with the words used to report a difference.
_COMPARED = (
    (("sweep", "base"), "base scenario"),
    (("sweep", "factors"), "factors"),
    (("sweep", "design"), "design"),
    (("sweep", "samples"), "samples"),
    (("sweep", "replicates"), "replicates"),
    (("sweep", "design_seed"), "design_seed"),
    (("design_hash",), "design values"),
    (("steps",), "steps"),
    (("seed",), "seed"),
    (("theory", "hash"), "theory"),
    (("record",), "record"),
    (("chunk_runs",), "chunk_runs"),
)
#: What makes a store's identity: what was run (the chunk size is layout, not identity).
_IDENTITY = (
    *((keys, label) for keys, label in _COMPARED if label != "chunk_runs"),
    (("format",), "format"),
    (("n_points",), "n_points"),
    (("n_runs",), "n_runs"),
)
#: Manifest entries copied into each chunk's own metadata (``cmo_sim_sweep``).
_CHUNK_META = ("sweep", "steps", "seed", "theory", "record")


# -- errors ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreProblem:
    """One thing wrong with a store.

    Attributes
    ----------
    file : str
        The file (or Zarr chunk folder) concerned, relative to the store: ``chunk-00003.zarr``,
        ``manifest.json``, ``design.npy`` or a file of the root group such as ``zarr.json``.
    kind : str
        ``missing``, ``truncated``, ``size``, ``checksum``, ``unreadable``, ``duplicate``,
        ``foreign``, ``rows``, ``runs``, ``unrecorded``, ``unexpected``, ``manifest``,
        ``design`` or ``root``.
    detail : str
        What was found, in words.
    chunk : int or None
        The chunk's index, when the problem is a chunk's.
    """

    file: str
    kind: str
    detail: str
    chunk: int | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.detail}"


class StoreIntegrityError(ValueError):
    """A sweep store is damaged: chunks missing, changed, duplicated, foreign or unrecorded.

    Attributes
    ----------
    store : pathlib.Path
        The store directory.
    problems : tuple of StoreProblem
        Everything found, each naming its file.
    """

    def __init__(self, store: str | os.PathLike, problems: Sequence[StoreProblem],
                 advice: str | None = None) -> None:
        self.store = Path(store)
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:12])
        if len(self.problems) > 12:
            shown += f"; and {len(self.problems) - 12} more"
        advice = advice or (
            "run the same sweep again on this store (run_sweep(..., store=...) or "
            "'cmo-sim sweep ... --store') to recompute or rebuild what is damaged")
        super().__init__(f"store: {self.store} is damaged ({shown}); {advice}")

    @property
    def files(self) -> tuple[str, ...]:
        """The names of the damaged files, in the order found."""
        return tuple(dict.fromkeys(p.file for p in self.problems))


class StoreLockedError(ValueError):
    """Another process is writing the store (or its lock cannot be judged stale).

    Attributes
    ----------
    store, lock : pathlib.Path
        The store directory and its lock file.
    host : str
    pid : int or None
    started : str
        The writer's host, process id and start time (ISO 8601, UTC), as its lock file says.
    """

    def __init__(self, store: Path, holder: Mapping[str, Any], reason: str) -> None:
        self.store, self.lock = store, store / LOCK
        self.host = str(holder.get("host", "?"))
        self.pid = holder.get("pid")
        self.started = str(holder.get("started", "?"))
        super().__init__(
            f"store: {store} is being written by another process (pid {self.pid} on host "
            f"{self.host}, since {self.started}){reason}; one writer at a time: wait for it to "
            f"finish, or, if that process has ended, delete the lock file {self.lock}"
        )


class StoreWarning(UserWarning):
    """A store was repaired on resume (chunks recomputed) or a stale writer's lock taken over."""


def check_verify(verify: Any) -> str:
    """The ``verify`` argument checked: ``"full"`` or ``"quick"``."""
    if not isinstance(verify, str) or verify not in VERIFY_LEVELS:
        raise ValueError(
            f"verify: {verify!r} is not allowed (allowed: 'full', checksums too; 'quick', "
            "sizes, run ranges and identity only)"
        )
    return verify


# -- small helpers --------------------------------------------------------------------------------
def theory_hash(theory: Theory) -> str:
    """SHA-256 of what the engine uses from a theory (:attr:`Theory.content_hash`)."""
    return theory.content_hash


def store_format(path: str | os.PathLike) -> str:
    """``"zarr"`` for a path ending in ``.zarr``, else ``"parquet"`` (a Parquet directory)."""
    return "zarr" if str(path).rstrip("/\\").endswith(".zarr") else "parquet"


def _get(data: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _show(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _difference(label: str, stored: Any, wanted: Any) -> str:
    if label == "base scenario" and isinstance(stored, dict) and isinstance(wanted, dict):
        keys = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        return f"base scenario differs in {', '.join(keys)}"
    if label == "theory":
        return f"theory differs (store: {str(stored)[:12]}, this run: {str(wanted)[:12]})"
    if label == "design values":
        return "design values differ (the design was generated differently)"
    verb = "differ" if label in ("factors", "replicates", "samples") else "differs"
    return f"{label} {verb} (store: {_show(stored)}, this run: {_show(wanted)})"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def identity(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of what a store's manifest says was run (not its chunk size or records)."""
    fields = {label: _get(manifest, keys) for keys, label in _IDENTITY}
    return hashlib.sha256(_canonical(fields).encode()).hexdigest()


def _identity_differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    return [label for keys, label in _IDENTITY
            if _canonical(_get(stored, keys)) != _canonical(_get(wanted, keys))]


def chunk_name(index: int, fmt: str) -> str:
    """The file name of chunk ``index`` of a store of format ``fmt``."""
    return f"chunk-{index:05d}.{fmt}"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _pid_running(pid: Any) -> bool:
    """Whether process ``pid`` runs on this host (a zombie does not)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    return True


def _files(path: Path) -> list[tuple[str, Path]]:
    """Every file under ``path`` (or ``path`` itself), as sorted (relative name, path) pairs."""
    if path.is_file():
        return [("", path)]
    found = []
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in names:
            full = Path(folder) / name
            found.append((full.relative_to(path).as_posix(), full))
    return sorted(found)


def _measure(path: Path) -> tuple[int, int]:
    """Total bytes and number of files of a chunk (a file or a Zarr folder)."""
    if path.is_file():
        return path.stat().st_size, 1
    files = _files(path)
    return sum(p.stat().st_size for _, p in files), len(files)


def _read_all(path: Path) -> list[tuple[str, bytes]]:
    """The relative names and contents of a chunk's files (one ``("", data)`` for a file)."""
    return [(name, full.read_bytes()) for name, full in _files(path)]


def _sha_of(contents: list[tuple[str, bytes]]) -> str:
    """SHA-256 of a chunk: of the file itself, or of each file's name, length and content."""
    if len(contents) == 1 and contents[0][0] == "":
        return hashlib.sha256(contents[0][1]).hexdigest()
    sha = hashlib.sha256()
    for name, data in contents:
        sha.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        sha.update(data)
    return sha.hexdigest()


def _digest(path: Path) -> tuple[int, int, str]:
    """Bytes, files and SHA-256 of a chunk (a file or a Zarr folder), as :func:`_sha_of`.

    Read a file at a time (a large file in blocks): the memory it takes is that of the
    largest file, not of the chunk.
    """
    sha = hashlib.sha256()
    if path.is_file():
        size = 0
        with open(path, "rb") as handle:
            while block := handle.read(_READ_BLOCK):
                sha.update(block)
                size += len(block)
        return size, 1, sha.hexdigest()
    size = count = 0
    for name, full in _files(path):
        data = full.read_bytes()
        sha.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        sha.update(data)
        size, count = size + len(data), count + 1
    return size, count, sha.hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class _InBackground:
    """A function run in a thread of its own (a new thread per call: safe after fork)."""

    def __init__(self, function, *args: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function, args: tuple) -> None:
        try:
            self._result = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        """The function's value (its exception raised here)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _move_into_place(tmp: Path, target: Path) -> None:
    """``os.replace`` a finished temporary over ``target`` (a damaged chunk folder removed)."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)  # os.replace cannot replace a folder that holds files
    os.replace(tmp, target)


def _save_npy(path: Path, unit: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(unit, dtype="<f8"), allow_pickle=False)


# -- the writer's lock ----------------------------------------------------------------------------
def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _WriterLock:
    """``.writer.lock`` of a store: an OS lock on the file, and the writer's host, pid, start.

    The OS lock (``flock``) is held while the writer runs and released by the OS when it
    dies; the file's contents say who holds it. A file whose writer has died on this host is
    a stale lock, taken over.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.file = store / LOCK
        self.token = secrets.token_hex(4)
        self.info = {"host": _HOST, "pid": os.getpid(), "started": _now(),
                     "token": self.token, "writer": "cmo-sim run_sweep"}
        self.fd: int | None = None

    @property
    def tag(self) -> str:
        """The owner part of this writer's temporary names: ``<host>-<pid>-<token>``."""
        return f"{_HOST}-{os.getpid()}-{self.token}"

    def acquire(self) -> None:
        """Take the lock or raise StoreLockedError; warn when taking over a stale lock."""
        if fcntl is None:  # pragma: no cover - Windows
            return self._acquire_exclusive()
        for _ in range(100):
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ValueError(
                    f"store: cannot create the lock file {self.file} ({exc.strerror})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreLockedError(self.store, self._holder(), "") from None
            except OSError:  # pragma: no cover - a file system without flock
                os.close(fd)
                return self._acquire_exclusive()
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.file))
            except FileNotFoundError:
                same = False
            if not same:  # released and removed between our open and flock: try again
                os.close(fd)
                continue
            try:
                self._take(fd, _parse_lock(os.pread(fd, 65536, 0)))
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
            return None
        raise ValueError(f"store: cannot take the lock file {self.file} (it keeps changing)")

    def _take(self, fd: int, previous: dict[str, Any] | None) -> None:
        if previous:
            self._judge(previous, os_lock=True)
        data = json.dumps(self.info, indent=1).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def _judge(self, previous: Mapping[str, Any], *, os_lock: bool) -> None:
        """Refuse a live (or unknowable) holder; warn about taking over a stale one."""
        host, pid = previous.get("host"), previous.get("pid")
        if host != _HOST:
            raise StoreLockedError(
                self.store, previous, "; a writer on another host cannot be checked from here")
        if pid != os.getpid() and _pid_running(pid):
            raise StoreLockedError(self.store, previous, "")
        if pid == os.getpid() and not os_lock:  # pragma: no cover - Windows
            raise StoreLockedError(self.store, previous, "; this process writes it already")
        warnings.warn(
            f"store {self.store}: took over the stale lock of pid {pid} on host {host} "
            f"(since {previous.get('started', '?')}): that process is no longer running",
            StoreWarning, stacklevel=6)

    def _holder(self) -> dict[str, Any]:
        """Who holds the lock, waiting briefly for a holder that is writing its details."""
        import time

        holder: dict[str, Any] | None = None
        for _ in range(40):
            holder = _read_lock(self.file)
            if holder and (holder.get("host") != _HOST or _pid_running(holder.get("pid"))):
                return holder
            time.sleep(0.025)
        return holder or {}

    def _acquire_exclusive(self) -> None:  # pragma: no cover - platforms without flock
        for _ in range(100):
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                previous = _read_lock(self.file) or {}
                self._judge(previous, os_lock=False)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.file)
                continue
            os.write(fd, json.dumps(self.info, indent=1).encode())
            os.close(fd)
            self.fd = -1
            return
        raise ValueError(f"store: cannot take the lock file {self.file} (it keeps changing)")

    @property
    def held(self) -> bool:
        """Whether this writer holds the lock."""
        return self.fd is not None

    def release(self) -> None:
        """Remove the lock file (if still ours) and release the OS lock."""
        if self.fd is None:
            return
        try:
            current = _read_lock(self.file)
            if current and current.get("token") == self.token:
                self.file.unlink(missing_ok=True)
        finally:
            if self.fd >= 0:
                os.close(self.fd)
            self.fd = None


def _parse_lock(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return {"host": "?", "pid": None} if data.strip() else None
    return parsed if isinstance(parsed, dict) else {"host": "?", "pid": None}


# -- inspection results ---------------------------------------------------------------------------
@dataclass
class Inspection:
    """What :meth:`SweepStore.inspect` found.

    Attributes
    ----------
    finished : list of int
        Chunks recorded, present and (as far as checked) intact.
    pending : list of int
        Chunks neither recorded nor present: not run yet.
    problems : list of StoreProblem
        Everything else, each naming its file.
    unrecorded : list of int
        Chunks whose file is present without a record (also listed in ``problems``).
    """

    finished: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    problems: list[StoreProblem] = field(default_factory=list)
    unrecorded: list[int] = field(default_factory=list)


# -- the store ------------------------------------------------------------------------------------
class SweepStore:
    """A sweep store directory (see the module docstring).

    Use :meth:`prepare` to create or resume one for a run (the writer: it holds the lock
    until :meth:`release`), :meth:`open` to read one.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._lock: _WriterLock | None = None
        self._notes: list[StoreProblem] = []
        self._lines: dict[str, tuple[Any, str]] = {}

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepStore:
        """Open an existing store for reading; FileNotFoundError if ``path`` holds none."""
        path = Path(path)
        file = path / MANIFEST
        if not file.is_file():
            raise FileNotFoundError(f"{path}: no sweep store here (no {MANIFEST})")
        try:
            manifest = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: cannot read the manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get(
                "cmo_sim_sweep_store") not in _READABLE_VERSIONS:
            got = manifest.get("cmo_sim_sweep_store") if isinstance(manifest, dict) else None
            raise ValueError(
                f"{file}: not a cmo-sim sweep store of version {STORE_VERSION} (got {got!r})"
            )
        return cls(path, manifest)

    @classmethod
    def prepare(
        cls, path: str | os.PathLike, manifest: dict[str, Any], unit: np.ndarray,
        *, chunk_runs_given: bool,
    ) -> SweepStore:
        """Lock a store for writing, and create it for ``manifest`` or check that it was made so.

        Parameters
        ----------
        path : path
            The store directory (``.zarr`` for a Zarr store, anything else for Parquet).
        manifest : dict
            What this run is (see the module docstring).
        unit : array
            The unit design, saved exactly.
        chunk_runs_given : bool
            Whether the caller chose the chunk size; if not, a resumed store keeps its own.

        Returns
        -------
        SweepStore
            Holding the writer's lock: call :meth:`release` when done.

        Raises
        ------
        StoreLockedError
            If another process is writing the store.
        ValueError
            If the store was made by a different sweep, theory, seed, steps, record or chunk
            size (naming each difference), or ``path`` is something other than a store.
        """
        path = Path(path)
        if manifest["format"] == "parquet" and manifest["record"] != "summary":
            raise ValueError(
                f"store: a Parquet store holds per-run summaries only (record "
                f"{manifest['record']!r}); use a path ending in .zarr to keep trajectories"
            )
        if path.exists() and not path.is_dir():
            raise ValueError(f"store: {path} exists and is not a directory")
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        lock = _WriterLock(path)
        try:
            lock.acquire()
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        try:
            return cls._prepare_locked(path, manifest, unit, lock, chunk_runs_given)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _prepare_locked(
        cls, path: Path, manifest: dict[str, Any], unit: np.ndarray, lock: _WriterLock,
        chunk_runs_given: bool,
    ) -> SweepStore:
        wanted = {**manifest, "cmo_sim_sweep_store": STORE_VERSION}
        wanted["identity"] = identity(wanted)
        if not (path / MANIFEST).is_file():
            others = [p.name for p in path.iterdir() if not p.name.startswith(".")]
            if others:
                raise ValueError(
                    f"store: {path} exists and is not a cmo-sim sweep store (no {MANIFEST}; "
                    f"holds {', '.join(sorted(others)[:3])}); give a new or empty directory"
                )
            store = cls(path, {**wanted, "chunks": {}})
            store._lock = lock
            store._clean_temporary()
            store._write_file(DESIGN, lambda tmp: _save_npy(tmp, unit))
            store._save_manifest()
            return store
        stored = cls.open(path).manifest
        notes: list[StoreProblem] = []
        if not chunk_runs_given:
            runs = stored.get("chunk_runs")
            if isinstance(runs, int) and not isinstance(runs, bool) and runs >= 1:
                wanted["chunk_runs"] = runs
                wanted["n_chunks"] = math.ceil(wanted["n_runs"] / runs)
        legacy = stored.get("cmo_sim_sweep_store") == 1
        ours, claim = wanted["identity"], stored.get("identity")
        fields = identity(stored)
        if legacy or ours not in (fields, claim):
            diffs = [
                _difference(label, _get(stored, keys), _get(wanted, keys))
                for keys, label in _COMPARED
                if label != "chunk_runs"
                and _canonical(_get(stored, keys)) != _canonical(_get(wanted, keys))
            ]
            if diffs or not legacy:
                if not diffs:
                    diffs = [f"{name} differs" for name in _identity_differences(stored, wanted)]
                edited = "" if legacy or fields == claim else (
                    "; its manifest was also edited after it was made")
                raise ValueError(
                    f"store: {path} was made by a different sweep ({'; '.join(diffs)}){edited}; "
                    "it is not resumed or mixed: use a new store path, or run the sweep that "
                    "made it"
                )
        if chunk_runs_given and stored.get("chunk_runs") != wanted["chunk_runs"]:
            raise ValueError(
                f"store: {path} was made by a different sweep ("
                f"{_difference('chunk_runs', stored.get('chunk_runs'), wanted['chunk_runs'])}); "
                "it is not resumed or mixed: use a new store path, or run the sweep that made it"
            )
        if not legacy and fields != ours:
            notes.append(StoreProblem(MANIFEST, "manifest", (
                "edited after the store was made ("
                f"{', '.join(_identity_differences(stored, wanted))} changed); restored")))
        elif not legacy and claim != ours:
            notes.append(StoreProblem(MANIFEST, "manifest", "identity hash edited; restored"))
        if stored.get("n_chunks") != wanted["n_chunks"]:
            notes.append(StoreProblem(MANIFEST, "manifest", (
                f"n_chunks was {_show(stored.get('n_chunks'))}; {wanted['n_runs']} runs in "
                f"chunks of {wanted['chunk_runs']} make {wanted['n_chunks']}; corrected")))
        records = stored.get("chunks", {})
        if not isinstance(records, dict):
            notes.append(StoreProblem(MANIFEST, "manifest", "chunk records unreadable; dropped"))
            records = {}
        store = cls(path, {**wanted, "chunks": records})
        if isinstance(stored.get("root"), dict):
            store.manifest["root"] = stored["root"]
        store._lock = lock
        store._legacy = legacy
        store._notes = notes
        store._clean_temporary()
        if not store._design_intact(unit):
            notes.append(StoreProblem(DESIGN, "design", "damaged; rewritten"))
            store._write_file(DESIGN, lambda tmp: _save_npy(tmp, unit))
        if _canonical(store.manifest) != _canonical(stored):
            store._save_manifest()
        return store

    _legacy = False

    def _design_intact(self, unit: np.ndarray) -> bool:
        try:
            stored = np.load(self.path / DESIGN, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return False
        return stored.shape == unit.shape and np.array_equal(stored, unit, equal_nan=True)

    def release(self) -> None:
        """Release the writer's lock (nothing for a store opened for reading)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _writer(self) -> _WriterLock:
        if self._lock is None or not self._lock.held:
            raise ValueError(
                f"store: {self.path} is open for reading; write through SweepStore.prepare, "
                "which holds the writer's lock")
        return self._lock

    def _temporary(self, name: str) -> Path:
        """This writer's temporary name for ``name``: it names the writer's host and pid."""
        return self.path / f".{name}.tmp-{self._writer().tag}"

    def _write_file(self, name: str, write) -> None:
        tmp = self._temporary(name)
        try:
            write(tmp)
            os.replace(tmp, self.path / name)
        finally:
            _remove(tmp)

    def _save_manifest(self) -> None:
        text = self._manifest_text()
        self._write_file(MANIFEST, lambda tmp: tmp.write_text(text))

    def _manifest_text(self) -> str:
        """The manifest as JSON: its fields indented, then one line per chunk record.

        Each record's line is kept once made (records are not changed once saved), so a
        commit costs a join and a write, not a serialisation of every record.
        """
        head = json.dumps({k: v for k, v in self.manifest.items() if k != "chunks"}, indent=1)
        records = self.manifest.get("chunks")
        if not isinstance(records, dict):
            return head
        lines = []
        for name, record in records.items():
            cached = self._lines.get(name)
            if cached is None or cached[0] is not record:
                cached = (record, f"  {json.dumps(name)}: {json.dumps(record)}")
                self._lines[name] = cached
            lines.append(cached[1])
        body = ",\n".join(lines)
        return f'{head[:-2]},\n "chunks": {{\n{body}\n }}\n}}' if lines else (
            f'{head[:-2]},\n "chunks": {{}}\n}}')

    def _clean_temporary(self) -> None:
        """Remove this writer's temporaries and those of dead writers on this host.

        A temporary names its writer (``.<name>.tmp-<host>-<pid>-<token>``); one of a writer
        that still runs, or of another host, is left alone. Temporaries of cmo-sim versions
        that did not name their writer (no lock either) are removed.
        """
        mine = self._writer().tag
        for entry in self.path.iterdir():
            if not entry.name.startswith(".") or entry.name == LOCK:
                continue
            owner = _TEMPORARY.fullmatch(entry.name)
            if owner is None:
                if entry.name.startswith(_LEGACY_TEMPORARY):
                    _remove(entry)
                continue
            tag = f"{owner['host']}-{owner['pid']}-{owner['token']}"
            if tag == mine or (owner["host"] == _HOST and not _pid_running(int(owner["pid"]))):
                _remove(entry)

    # -- contents ---------------------------------------------------------------------------------
    @property
    def format(self) -> str:
        """``"zarr"`` or ``"parquet"``."""
        return str(self.manifest["format"])

    @property
    def chunk_runs(self) -> int:
        """Runs per chunk."""
        return int(self.manifest["chunk_runs"])

    @property
    def n_chunks(self) -> int:
        """Number of chunks of the whole sweep."""
        return int(self.manifest["n_chunks"])

    @property
    def n_runs(self) -> int:
        """Number of runs of the whole sweep."""
        return int(self.manifest["n_runs"])

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """The manifest's chunk records, by file name (empty for a version 1 store)."""
        records = self.manifest.get("chunks")
        return records if isinstance(records, dict) else {}

    def unit(self) -> np.ndarray:
        """The stored unit design."""
        return np.load(self.path / DESIGN, allow_pickle=False)

    def chunk_name(self, index: int) -> str:
        """The file name of chunk ``index``."""
        return chunk_name(index, self.format)

    def _chunk_path(self, index: int) -> Path:
        return self.path / self.chunk_name(index)

    def chunk_runs_of(self, index: int) -> tuple[int, int]:
        """The run range ``[start, stop)`` of chunk ``index``."""
        start = index * self.chunk_runs
        return start, min(start + self.chunk_runs, self.n_runs)

    def finished(self) -> list[int]:
        """Indices of the chunks recorded in the manifest whose files exist, in order.

        A version 1 store (no records): the chunks whose files exist.
        """
        legacy = self.manifest.get("cmo_sim_sweep_store") == 1
        found = []
        for index in range(self.n_chunks):
            name = self.chunk_name(index)
            if (legacy or name in self.records) and (self.path / name).exists():
                found.append(index)
        return found

    # -- verification -----------------------------------------------------------------------------
    def layout_problems(self, n_runs: int | None = None) -> list[StoreProblem]:
        """What is wrong with the manifest itself: its identity, chunk count and records.

        Parameters
        ----------
        n_runs : int, optional
            The number of runs of the sweep the manifest describes (from its spec and design).
        """
        m = self.manifest
        problems = []
        if m.get("cmo_sim_sweep_store") != 1 and m.get("identity") != identity(m):
            problems.append(StoreProblem(MANIFEST, "manifest", (
                "edited after the store was made (its fields no longer give its identity "
                f"hash{self._edited_fields()})")))
        runs, chunk = m.get("n_runs"), m.get("chunk_runs")
        if n_runs is not None and runs != n_runs:
            problems.append(StoreProblem(MANIFEST, "manifest", (
                f"n_runs is {_show(runs)}, but the sweep it describes has {n_runs} runs")))
        if not (isinstance(chunk, int) and not isinstance(chunk, bool) and chunk >= 1
                and isinstance(runs, int) and runs >= 0):
            problems.append(StoreProblem(MANIFEST, "manifest", (
                f"chunk_runs {_show(chunk)} or n_runs {_show(runs)} is not a whole number")))
            return problems
        expected = math.ceil(runs / chunk)
        if m.get("n_chunks") != expected:
            problems.append(StoreProblem(MANIFEST, "manifest", (
                f"n_chunks is {_show(m.get('n_chunks'))}, but {runs} runs in chunks of {chunk} "
                f"make {expected}")))
        if m.get("cmo_sim_sweep_store") != 1 and not isinstance(m.get("chunks"), dict):
            problems.append(StoreProblem(MANIFEST, "manifest", "its chunk records are missing"))
        return problems

    def _edited_fields(self) -> str:
        """Which manifest fields differ from those the first readable chunk was written with."""
        for index in range(min(self.n_chunks if isinstance(self.manifest.get("n_chunks"), int)
                               else 0, 64)):
            meta = self._embedded(index)
            if meta and meta.get("identity") == self.manifest.get("identity"):
                changed = [key for key in _CHUNK_META
                           if _canonical(meta.get(key)) != _canonical(self.manifest.get(key))]
                if changed:
                    return f": {_listed(changed)} from the chunks'"
                return ""
        return ""

    def _valid_name(self, name: str, n_chunks: int) -> int | None:
        """The index of a chunk file name of this store, or None."""
        match = _CHUNK.fullmatch(name)
        if match is None or match.group(2) != self.format:
            return None
        index = int(match.group(1))
        return index if index < n_chunks and name == self.chunk_name(index) else None

    def _record_problem(self, index: int, record: Any) -> StoreProblem | None:
        """What is wrong with the manifest's record of chunk ``index`` (None if nothing)."""
        name = self.chunk_name(index)
        keys = ("runs", "rows", "bytes", "files", "sha256")
        if not isinstance(record, dict) or any(key not in record for key in keys):
            return StoreProblem(MANIFEST, "manifest", f"the record of {name} is incomplete",
                                index)
        start, stop = self.chunk_runs_of(index)
        if record["runs"] != [start, stop]:
            return StoreProblem(MANIFEST, "runs", (
                f"records runs {_show(record['runs'])} for {name}, whose runs are "
                f"[{start}, {stop}) in chunks of {self.chunk_runs}"), index)
        if record["rows"] != stop - start:
            return StoreProblem(MANIFEST, "rows", (
                f"records {_show(record['rows'])} rows for {name}, which holds runs "
                f"[{start}, {stop}): {stop - start} rows"), index)
        return None

    def inspect(self, verify: Verify = "quick", *, sizes: bool = True) -> Inspection:
        """Check every chunk against its record without reading its data.

        Parameters
        ----------
        verify : "full" or "quick"
            ``"quick"``: each recorded chunk exists with its recorded size (and number of
            files) and its record's run range and row count are its chunk's; ``"full"``: also
            the SHA-256 of its content. Both report chunk files that are not recorded or not
            chunks of this sweep, and records of chunks the sweep does not have.
        sizes : bool
            Compare sizes (and checksums) here; false for a caller that reads every chunk
            with :meth:`load`, which checks them from the bytes it reads.

        Returns
        -------
        Inspection
            Finished, pending and damaged chunks (the manifest's own fields are checked by
            :meth:`layout_problems`).
        """
        verify = check_verify(verify)
        found = Inspection()
        legacy = self.manifest.get("cmo_sim_sweep_store") == 1
        n_chunks = math.ceil(self.n_runs / self.chunk_runs)
        present = set()
        for entry in sorted(self.path.iterdir()):
            if _CHUNK.fullmatch(entry.name) is None:
                continue
            index = self._valid_name(entry.name, n_chunks)
            if index is None:
                found.problems.append(StoreProblem(entry.name, "unexpected", (
                    f"not a chunk of this store ({n_chunks} {self.format} chunks)")))
            else:
                present.add(index)
        records = self.records
        found.problems.extend(
            StoreProblem(MANIFEST, "manifest", (
                f"holds a record of {name}, which is not a chunk of this sweep "
                f"({n_chunks} {self.format} chunks)"))
            for name in records if self._valid_name(name, n_chunks) is None)
        for index in range(n_chunks):
            name = self.chunk_name(index)
            record = records.get(name)
            if legacy:
                (found.finished if index in present else found.pending).append(index)
            elif record is None:
                if index in present:
                    found.unrecorded.append(index)
                    found.problems.append(StoreProblem(name, "unrecorded", (
                        "present but not recorded in the manifest (a chunk from elsewhere, "
                        "or one whose writer was killed before recording it)"), index))
                else:
                    found.pending.append(index)
            elif (problem := self._record_problem(index, record)) is not None:
                found.problems.append(problem)
            elif index not in present:
                found.problems.append(StoreProblem(name, "missing", (
                    "missing (recorded as finished; the file is gone)"), index))
            elif sizes and (problem := self._check_file(
                    index, record, checksum=verify == "full")) is not None:
                found.problems.append(problem)
            else:
                found.finished.append(index)
        return found

    def _check_file(self, index: int, record: Mapping[str, Any], *,
                    checksum: bool) -> StoreProblem | None:
        """Size (and, with ``checksum``, SHA-256) of a chunk file against its record."""
        size, count = _measure(self._chunk_path(index))
        problem = self._size_problem(index, size, count, record)
        if problem is not None:
            return problem
        if checksum:
            return self._checksum_problem(index, _digest(self._chunk_path(index))[2], record)
        return None

    def _size_problem(self, index: int, size: int, count: int,
                      record: Mapping[str, Any]) -> StoreProblem | None:
        """A chunk whose size or number of files is not the recorded one (None if it is)."""
        if size == record["bytes"] and count == record["files"]:
            return None
        shrunk = size < record["bytes"] and count <= record["files"]
        if self.format == "parquet":
            found = f"{size} bytes; recorded {record['bytes']}"
        else:
            found = (f"{size} bytes in {count} files; recorded {record['bytes']} in "
                     f"{record['files']}")
        return self._classify(index, "truncated" if shrunk else "size",
                              f"{'truncated' if shrunk else 'size changed'} ({found})")

    def _checksum_problem(self, index: int, digest: str,
                          record: Mapping[str, Any]) -> StoreProblem | None:
        """A chunk whose SHA-256 is not the recorded one (None if it is)."""
        if digest == record["sha256"]:
            return None
        return self._classify(index, "checksum", (
            f"content changed (SHA-256 {digest[:12]}, recorded {str(record['sha256'])[:12]})"))

    def _classify(self, index: int, kind: str, detail: str) -> StoreProblem:
        """A chunk that fails its record: a copy of another chunk, foreign, or damaged."""
        name = self.chunk_name(index)
        meta = self._embedded(index)
        if meta is not None:
            other = self._foreign(meta, self.records.get(name))
            if other:
                return StoreProblem(name, "foreign", f"a chunk of another sweep ({other})", index)
            if isinstance(meta.get("chunk"), int) and meta["chunk"] != index:
                return StoreProblem(name, "duplicate", (
                    f"a copy of {self.chunk_name(meta['chunk'])} (duplicate)"), index)
        return StoreProblem(name, kind, detail, index)

    def _foreign(self, meta: Mapping[str, Any], record: Any = None) -> str:
        """Why a chunk's own metadata says it was written by another sweep ('' if it was not).

        A chunk written by a cmo-sim that kept no records carries no identity: accepted in a
        version 1 store, and in one upgraded on resume (its record says ``legacy``).
        """
        if "identity" not in meta:
            legacy = (self.manifest.get("cmo_sim_sweep_store") == 1 or self._legacy
                      or isinstance(record, dict) and record.get("legacy") is True)
            return "" if legacy else "written without a store identity"
        if meta["identity"] in (identity(self.manifest), self.manifest.get("identity")):
            return ""
        changed = [key for key in _CHUNK_META
                   if _canonical(meta.get(key)) != _canonical(self.manifest.get(key))]
        return f"its {_listed(changed)}" if changed else "its identity differs"

    def _embedded(self, index: int) -> dict[str, Any] | None:
        """The ``cmo_sim_sweep`` metadata a chunk file carries (None if unreadable)."""
        target = self._chunk_path(index)
        try:
            if self.format == "parquet":
                raw = pq.read_schema(target).metadata[b"cmo_sim_sweep"]
            else:
                attrs = json.loads((target / "zarr.json").read_text())["attributes"]
                raw = attrs.get("cmo_sim_sweep", "{}")
            meta = json.loads(raw)
        except Exception:  # noqa: BLE001 - any damage means: nothing to learn from it
            return None
        return meta if isinstance(meta, dict) else None

    # -- reading ----------------------------------------------------------------------------------
    def load(
        self, index: int, *, checksum: bool = True, recorded: bool = True,
    ) -> tuple[pd.DataFrame, xr.Dataset | None] | StoreProblem:
        """Read one chunk and check it, or say what is wrong with it.

        Always checked: the chunk's own metadata (this store's identity, this chunk's index)
        and that it holds exactly its runs (and its recorded row count).

        Parameters
        ----------
        index : int
        checksum : bool
            Also compare the SHA-256 of its content with its record (the file is read once).
        recorded : bool
            Whether the chunk has a record to check against (not for a chunk being adopted,
            nor in a version 1 store).

        Returns
        -------
        (summary, trajectories) or StoreProblem
            The summary in memory; the trajectories of a Zarr chunk (None if not recorded)
            as Dask arrays over its folder, one block per variable, read when used.
        """
        return self._load(index, checksum=checksum, recorded=recorded, dataset=False)

    def _load(self, index: int, *, checksum: bool, recorded: bool, dataset: bool) -> Any:
        """:meth:`load`; with ``dataset``, a Zarr chunk's Dataset as written, in memory.

        A Zarr chunk's trajectories are not read here (only with ``dataset``): they are
        Dask arrays over the chunk's folder, read when used. A chunk checked by checksum is
        read once, its summary parsed from the bytes hashed; otherwise only its summary and
        metadata are read, its size taken from the file system.
        """
        name = self.chunk_name(index)
        target = self._chunk_path(index)
        record = self.records.get(name) if recorded else None
        hashed = checksum and record is not None
        contents = None
        if self.format == "zarr" and not dataset and not hashed:
            try:
                size, count = _measure(target)
            except OSError as exc:
                return StoreProblem(name, "missing", f"missing or unreadable ({exc.strerror})",
                                    index)
        else:
            try:
                contents = _read_all(target)
            except OSError as exc:
                return StoreProblem(name, "missing", f"missing or unreadable ({exc.strerror})",
                                    index)
            size, count = sum(len(data) for _, data in contents), len(contents)
        if not count:
            return StoreProblem(name, "missing", "missing (the folder is empty)", index)
        if record is not None:
            if (problem := self._size_problem(index, size, count, record)) is not None:
                return problem
        digest = None
        if hashed:
            if len(contents) == 1 and len(contents[0][1]) >= _HASH_IN_THREAD:
                # Hashed in a thread while the chunk is parsed (hashlib releases the GIL for
                # a large buffer): checking costs little more than reading.
                digest = _InBackground(_sha_of, contents)
            elif (problem := self._checksum_problem(index, _sha_of(contents), record)):
                return problem  # many small files (Zarr): a thread would cost more
        failed = None
        try:
            if self.format == "parquet":
                table = pq.read_table(pa.BufferReader(contents[0][1]))
                meta = json.loads((table.schema.metadata or {}).get(b"cmo_sim_sweep", b"{}"))
                frame, traj = tidy_chunk(table.to_pandas()), None
            elif dataset:
                ds = _zarr_from_memory(contents)
                frame, _ = _chunk_frames(ds)
                meta = json.loads(ds.attrs.get("cmo_sim_sweep", "{}"))
                traj = ds
            else:
                frame, traj, meta = _zarr_chunk(target, contents)
        except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways
            failed = exc
        if digest is not None and (problem := self._checksum_problem(
                index, digest.result(), record)) is not None:
            return problem
        if failed is not None:
            return self._classify(index, "unreadable",
                                  f"unreadable ({type(failed).__name__}: {str(failed)[:120]})")
        return self._check_content(index, frame["run"].to_numpy(), meta, record) or (frame, traj)

    def _check_content(self, index: int, runs: np.ndarray, meta: Any,
                       record: Mapping[str, Any] | None) -> StoreProblem | None:
        """A chunk's own metadata and run column against what chunk ``index`` must hold."""
        name = self.chunk_name(index)
        start, stop = self.chunk_runs_of(index)
        meta = meta if isinstance(meta, dict) else {}
        other = self._foreign(meta, record)
        if other:
            return StoreProblem(name, "foreign", f"a chunk of another sweep ({other})", index)
        if "chunk" in meta and meta["chunk"] != index:
            return StoreProblem(name, "duplicate", (
                f"a copy of {self.chunk_name(meta['chunk'])} (duplicate)"), index)
        if record is not None and len(runs) != record["rows"]:
            return StoreProblem(name, "rows", (
                f"holds {len(runs)} rows; recorded {record['rows']}"), index)
        if len(runs) != stop - start or not np.array_equal(runs, np.arange(start, stop)):
            got = f"[{runs.min()}, {runs.max() + 1})" if len(runs) else "none"
            return StoreProblem(name, "runs", (
                f"holds runs {got} ({len(runs)} rows), not runs [{start}, {stop})"), index)
        return None

    def read(self, index: int, verify: Verify = "full") -> tuple[pd.DataFrame, xr.Dataset | None]:
        """The summary (and trajectories) of one finished chunk, checked.

        Raises
        ------
        StoreIntegrityError
            If the chunk is missing, changed, a copy of another, or from another sweep.
        """
        result = self.load(index, checksum=check_verify(verify) == "full")
        if isinstance(result, StoreProblem):
            raise StoreIntegrityError(self.path, [result])
        return result

    # -- the root group of a Zarr store -----------------------------------------------------------
    def _root_tops(self) -> list[str]:
        """The root group's top-level entries as recorded (never a chunk, manifest or design)."""
        recorded = self.manifest.get("root")
        files = recorded.get("files") if isinstance(recorded, dict) else None
        if not isinstance(files, dict):
            return []
        tops = {str(name).split("/", 1)[0] for name in files}
        return sorted(t for t in tops if t not in (MANIFEST, DESIGN) and not t.startswith(".")
                      and _CHUNK.fullmatch(t) is None)

    @property
    def consolidated(self) -> bool:
        """Whether the root group of a finished Zarr store is in place (and recorded)."""
        if not (self.path / "zarr.json").is_file():
            return False
        return self.manifest.get("cmo_sim_sweep_store") == 1 or "root" in self.manifest

    def root_problems(self, verify: Verify = "quick") -> list[StoreProblem]:
        """The root group's files against their records (none when it is not recorded).

        ``"quick"`` compares sizes, ``"full"`` also the SHA-256 of each file.
        """
        recorded = self.manifest.get("root")
        if self.format != "zarr" or recorded is None:
            return []
        files = recorded.get("files") if isinstance(recorded, dict) else None
        if not isinstance(files, dict) or not all(
                isinstance(v, list) and len(v) == 2 for v in files.values()):
            return [StoreProblem(MANIFEST, "manifest", "the root group's record is incomplete")]
        present = {}
        for top in self._root_tops():
            entry = self.path / top
            if entry.is_file():
                present[top] = entry
            elif entry.is_dir():
                for rel, full in _files(entry):
                    present[f"{top}/{rel}"] = full
        problems = []
        for name, (size, sha) in sorted(files.items()):
            full = present.pop(name, None)
            if full is None:
                problems.append(StoreProblem(name, "root", "missing from the root group"))
            elif full.stat().st_size != size:
                problems.append(StoreProblem(name, "root", (
                    f"root group file changed ({full.stat().st_size} bytes; recorded {size})")))
            elif verify == "full" and hashlib.sha256(full.read_bytes()).hexdigest() != sha:
                problems.append(StoreProblem(name, "root", "root group file changed (SHA-256)"))
        problems.extend(StoreProblem(name, "root", "not part of the root group as written")
                        for name in sorted(present))
        return problems

    def _drop_root(self) -> None:
        """Take the root group apart (``zarr.json`` first), so that it is rebuilt."""
        (self.path / "zarr.json").unlink(missing_ok=True)
        for top in self._root_tops():
            _remove(self.path / top)
        if self.manifest.pop("root", None) is not None:
            self._save_manifest()

    # -- resuming ---------------------------------------------------------------------------------
    def resume(self, verify: Verify = "full") -> list[int]:
        """Check a store about to be resumed; discard what is damaged and say so.

        Damaged, missing, duplicated, foreign or unexpected chunk files are removed with
        their records, so that the run recomputes them. A chunk present but unrecorded is kept
        (and recorded) when its own metadata and runs show it is this store's chunk (its
        writer was killed between moving it into place and recording it, or it was written by
        a cmo-sim that kept no records); otherwise it is removed. A damaged root group is
        removed, to be rebuilt. Everything repaired is reported in one :class:`StoreWarning`.

        Returns
        -------
        list of int
            The chunks finished and intact.
        """
        verify = check_verify(verify)
        self._writer()
        notes = list(self._notes)
        self._notes = []
        found = self.inspect(verify)
        records = self.records
        for name in [n for n in records if self._valid_name(n, self.n_chunks) is None]:
            records.pop(name)
        finished = list(found.finished)
        adopted = []
        for problem in found.problems:
            if problem.kind == "unrecorded":
                result = self.load(problem.chunk, checksum=False, recorded=False)
                if not isinstance(result, StoreProblem):
                    records[problem.file] = self._record(self.path / problem.file, problem.chunk)
                    if "identity" not in (self._embedded(problem.chunk) or {}):
                        records[problem.file]["legacy"] = True
                    finished.append(problem.chunk)
                    adopted.append(problem.file)
                    continue
                problem = result
            notes.append(problem)
            if problem.chunk is not None:
                name = self.chunk_name(problem.chunk)
                records.pop(name, None)
                _remove(self.path / name)
            elif problem.kind == "unexpected":
                _remove(self.path / problem.file)
        self.manifest["chunks"] = records
        finished = sorted(finished)
        if self.format == "zarr":
            root = self.root_problems(verify)
            notes.extend(root)
            if root or (len(finished) < self.n_chunks and "root" in self.manifest):
                self._drop_root()
        self._save_manifest()
        if adopted and not self._legacy:
            warnings.warn(
                f"store {self.path}: {len(adopted)} chunks finished by a run killed before it "
                f"recorded them were checked and recorded: {', '.join(adopted)}",
                StoreWarning, stacklevel=3)
        if notes:
            again = sorted({self.chunk_name(p.chunk) for p in notes if p.chunk is not None})
            redo = (f"; recomputing {len(again)} chunk{'s' if len(again) > 1 else ''}: "
                    f"{', '.join(again)}" if again else "")
            warnings.warn(
                f"store {self.path}: repairing damage ({'; '.join(str(p) for p in notes)})"
                f"{redo}", StoreWarning, stacklevel=3)
        return finished

    # -- writing ----------------------------------------------------------------------------------
    def _record(self, target: Path, index: int) -> dict[str, Any]:
        start, stop = self.chunk_runs_of(index)
        size, count, sha = _digest(target)
        return {"runs": [start, stop], "rows": stop - start, "bytes": size, "files": count,
                "sha256": sha}

    def chunk_meta(self, index: int) -> dict[str, Any]:
        """What a chunk file says about itself: the sweep, its store's identity, index, runs."""
        meta = {key: self.manifest.get(key) for key in _CHUNK_META}
        start, stop = self.chunk_runs_of(index)
        meta.update(identity=self.manifest["identity"], chunk=index, runs=[start, stop])
        return meta

    def write(self, output: ChunkOutput, design: pd.DataFrame | None = None) -> None:
        """Write one finished chunk atomically, then record it in the manifest.

        ``design`` (the sweep's design values, one row per point) adds each run's factor
        values as columns, so that a chunk file describes itself to any reader; every column
        carries its meaning and unit (Parquet field metadata, Zarr attributes), and the file
        carries the store's identity, its index and its run range.
        """
        self._writer()
        index = output.index
        name = self.chunk_name(index)
        start, stop = self.chunk_runs_of(index)
        runs = output.summary["run"].to_numpy()
        if len(runs) != stop - start or not np.array_equal(runs, np.arange(start, stop)):
            raise ValueError(f"store: chunk {index} must hold runs [{start}, {stop})")
        target = self.path / name
        meta = self.chunk_meta(index)
        tmp = self._temporary(self.chunk_name(index))
        try:
            if self.format == "parquet":
                pq.write_table(_parquet_table(output.summary, design, meta), tmp)
            else:
                _chunk_dataset(output, design, meta).to_zarr(tmp, mode="w", consolidated=False)
            record = self._record(tmp, index)
            _move_into_place(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        self.manifest["chunks"][name] = record
        self._save_manifest()

    def consolidate(self, design: pd.DataFrame) -> None:
        """Write the whole sweep as one Zarr group at the store's root (Zarr stores only).

        The chunks are checked against their records (every one, all problems reported
        together) and appended along ``run`` one at a time, so memory holds one chunk
        whatever their number; the design's factors become coordinates. The group is built
        in a temporary folder and its entries moved into the root, ``zarr.json`` last, so
        the root is a group only once it is complete; then each of its files is recorded in
        the manifest. A consolidation that fails or is stopped leaves the chunks as they
        were and no group taken for complete: running the sweep again writes it.
        """
        if self.format != "zarr":
            return
        self._writer()
        described = {key: self.manifest.get(key)
                     for key in ("sweep", "steps", "seed", "theory", "record", "design_hash")}
        # Settings of stores that record them: the trajectories' float type and the engine.
        described.update({key: self.manifest[key] for key in ("trajectory_dtype", "engine")
                          if key in self.manifest})
        attrs = {"cmo_sim_sweep": json.dumps(described, default=str)}
        factors = (*design.columns, "point", "replicate", "scenario")
        problems: list[StoreProblem] = []
        tmp = self._temporary("root")
        _remove(tmp)
        try:
            with warnings.catch_warnings():
                # Consolidated metadata (one read to open the group) is zarr-python's
                # extension of the v3 format; xarray and zarr-python read it.
                warnings.filterwarnings("ignore", message="Consolidated metadata")
                written = False
                for index in range(self.n_chunks):
                    name = self.chunk_name(index)
                    if name not in self.records:
                        problems.append(StoreProblem(name, "missing", "not finished", index))
                        continue
                    result = self._load(index, checksum=True, recorded=True, dataset=True)
                    if isinstance(result, StoreProblem):
                        problems.append(result)
                        continue
                    if problems:
                        continue  # nothing more is written; the other chunks are checked
                    part = result[1]
                    del result
                    part = part.set_coords([c for c in factors if c in part.data_vars])
                    part.attrs = attrs
                    _append_part(part, tmp, first=not written)
                    written = True
                    del part
                if problems:
                    raise StoreIntegrityError(self.path, problems)
                import zarr

                zarr.consolidate_metadata(str(tmp))
            files = {}
            for rel, full in _files(tmp):
                size, _, sha = _digest(full)
                files[rel] = [size, sha]
            self._drop_root()
            entries = sorted(p.name for p in tmp.iterdir())
            for name in [n for n in entries if n != "zarr.json"] + ["zarr.json"]:
                _remove(self.path / name)
                os.replace(tmp / name, self.path / name)
        finally:
            _remove(tmp)
        self.manifest["root"] = {"files": files}
        self._save_manifest()


def _append_part(part: xr.Dataset, target: Path, *, first: bool) -> None:
    """Write a chunk's Dataset to the group ``target`` (the first), or append it along run."""
    if first:
        part.to_zarr(target, mode="w", consolidated=False)
    else:
        part.to_zarr(target, append_dim="run", consolidated=False)


def _listed(names: Sequence[str]) -> str:
    """``seed differs`` or ``seed, steps differ``."""
    return f"{', '.join(names)} {'differs' if len(names) == 1 else 'differ'}"


def _memory_store(contents: list[tuple[str, bytes]]):
    """A Zarr store in memory holding a chunk's files' contents (read once, already checked)."""
    from zarr.core.buffer import cpu
    from zarr.storage import MemoryStore

    return MemoryStore({name: cpu.Buffer.from_bytes(data) for name, data in contents})


def _zarr_from_memory(contents: list[tuple[str, bytes]]) -> xr.Dataset:
    """A Zarr chunk's Dataset, loaded from its files' contents (read once, already checked)."""
    with xr.open_zarr(_memory_store(contents), consolidated=False, chunks=None) as ds:
        return ds.load()


def _is_trajectory(name: Any) -> bool:
    return str(name).startswith("traj_")


def _zarr_chunk(target: Path, contents: list[tuple[str, bytes]] | None
                ) -> tuple[pd.DataFrame, xr.Dataset | None, Any]:
    """Summary, trajectories and own metadata of a Zarr chunk.

    The summary and the metadata are read from ``contents`` when given (the bytes checked),
    else from the folder ``target``; the trajectories are Dask arrays over the folder, one
    block per variable, read when used.
    """
    source = _memory_store(contents) if contents is not None else target
    with xr.open_zarr(source, consolidated=False, chunks=None) as ds:
        summary = ds[[v for v in ds.data_vars if ds[v].dims == ("run",)]].load()
        meta = json.loads(ds.attrs.get("cmo_sim_sweep", "{}"))
        names = [v for v in ds.data_vars if _is_trajectory(v)]
    frame = _summary_frame(summary)
    traj = None
    if names:
        order = {f"traj_{name}": k for k, name in enumerate(TRAJECTORY_VARIABLES)}
        names.sort(key=lambda v: (order.get(str(v), len(order)), str(v)))
        on_disk = xr.open_zarr(target, consolidated=False, chunks=None)[names]
        on_disk = on_disk.chunk(dict.fromkeys(on_disk.dims, -1))
        traj = _trajectories(on_disk, frame)
    return frame, traj, meta


def _summary_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The summary of a Zarr chunk's Dataset (its variables along ``run`` only)."""
    summary_vars = [v for v in ds.data_vars if ds[v].dims == ("run",)]
    return tidy_chunk(ds[summary_vars].to_dataframe().reset_index())


def _trajectories(ds: xr.Dataset, frame: pd.DataFrame) -> xr.Dataset | None:
    """The trajectories of a Zarr chunk's Dataset, named as recorded, with point, replicate."""
    traj_vars = [v for v in ds.data_vars if _is_trajectory(v)]
    if not traj_vars:
        return None
    traj = ds[traj_vars].rename({v: str(v).removeprefix("traj_") for v in traj_vars})
    traj = traj.assign_coords(
        point=("run", frame["point"].to_numpy()),
        replicate=("run", frame["replicate"].to_numpy()),
    )
    if "active" in traj and traj["active"].dtype != bool:
        traj["active"] = traj["active"].astype(bool)
    return traj


def _chunk_frames(ds: xr.Dataset) -> tuple[pd.DataFrame, xr.Dataset | None]:
    """The summary and trajectories of a loaded Zarr chunk."""
    frame = _summary_frame(ds)
    return frame, _trajectories(ds, frame)


def _with_design(summary: pd.DataFrame, design: pd.DataFrame | None) -> pd.DataFrame:
    """The chunk's summary with each run's design values as columns (after the summary's)."""
    if design is None:
        return summary
    values = design.loc[summary["point"].to_numpy()].reset_index(drop=True)
    values.index = summary.index
    return pd.concat([summary, values], axis=1)


def _field_description(name: str) -> tuple[str, str]:
    """Meaning and unit of a chunk column: a summary column or a design factor."""
    if name in SUMMARY_FIELDS:
        return SUMMARY_FIELDS[name]
    return (f"design value of the sweep factor '{name}'", "")


def _parquet_table(summary: pd.DataFrame, design: pd.DataFrame | None,
                   meta: Mapping[str, Any]) -> pa.Table:
    frame = _with_design(summary, design)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for schema_field in table.schema:
        meaning, unit = _field_description(schema_field.name)
        fields.append(schema_field.with_metadata({"description": meaning, "units": unit}))
    metadata = dict(table.schema.metadata or {})
    metadata[b"cmo_sim_sweep"] = json.dumps(dict(meta), default=str).encode()
    return table.cast(pa.schema(fields, metadata=metadata))


def _chunk_dataset(output: ChunkOutput, design: pd.DataFrame | None = None,
                   meta: Mapping[str, Any] | None = None) -> xr.Dataset:
    """One chunk as a Dataset: summary columns along ``run``, trajectories as ``traj_<name>``."""
    frame = _with_design(output.summary.copy(), design)
    for column in frame.columns:
        if frame[column].dtype == object or isinstance(frame[column].dtype,
                                                       pd.CategoricalDtype):
            frame[column] = frame[column].astype(str).astype(object)  # variable-length strings
    ds = frame.set_index("run").to_xarray()
    for name in ds.variables:
        meaning, unit = _field_description(str(name))
        ds[name].attrs.update(description=meaning, units=unit)
    if output.trajectories is not None:
        traj = output.trajectories.drop_vars(
            [c for c in ("point", "replicate", "scenario") if c in output.trajectories.coords]
        )
        traj = traj.rename({name: f"traj_{name}" for name in traj.data_vars})
        ds = xr.merge([ds, traj], join="exact", compat="no_conflicts")
    if meta is not None:
        ds.attrs["cmo_sim_sweep"] = json.dumps(dict(meta), default=str)
    return ds
