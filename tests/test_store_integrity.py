"""Sweep store integrity (chunk records, verification, repair on resume) and one writer at a time.

Every damaged store is compared with an undamaged store of the same sweep written in the same
test session, never with stored numbers: the model's values may change, the store's guarantees
may not.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

import cmo_sim
from cmo_sim import Sweep, open_sweep, run_sweep
from cmo_sim.sweep.store import (
    LOCK,
    MANIFEST,
    StoreIntegrityError,
    StoreLockedError,
    StoreWarning,
    SweepStore,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from store_damage import DAMAGES, flip_bytes  # noqa: E402

BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
SWEEP = Sweep(BASE, vary={"history": (-0.6, 0.6), "leadership": (0.2, 0.8)},
              design="grid", samples=2, replicates=10)  # 40 runs: 5 chunks of 8
RUN = {"steps": 24, "progress": False}
CHUNK = 8
#: Damages checked in the default run: every Parquet one, and the Zarr ones whose code differs
#: (a Zarr chunk's own metadata; the root group); a changed byte of a Zarr chunk is also found
#: by the quick/full test below. ``--slow`` checks every one of the 22.
FAST_ZARR = ("zarr: chunk copied over another", "zarr: root group bytes flipped")


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Finished reference stores (seed 0) and foreign ones (seed 1) of both formats."""
    root = tmp_path_factory.mktemp("stores")
    made = {}
    for fmt in ("parquet", "zarr"):
        made[fmt] = root / f"reference.{fmt}"
        run_sweep(SWEEP, store=made[fmt], chunk_runs=CHUNK, **RUN)
        made[f"foreign.{fmt}"] = root / f"foreign.{fmt}"
        run_sweep(SWEEP, store=made[f"foreign.{fmt}"], chunk_runs=CHUNK, seed=1, **RUN)
    return made


def copy_of(stores: dict[str, Path], fmt: str, tmp_path: Path) -> Path:
    target = tmp_path / f"s.{fmt}"
    shutil.copytree(stores[fmt], target)
    return target


def no_warnings(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


# -- records --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "zarr"])
def test_every_chunk_is_recorded_with_runs_rows_size_and_checksum(stores, fmt):
    store = stores[fmt]
    manifest = json.loads((store / MANIFEST).read_text())
    assert manifest["cmo_sim_sweep_store"] == 2 and len(manifest["identity"]) == 64
    assert sorted(manifest["chunks"]) == [f"chunk-{i:05d}.{fmt}" for i in range(5)]
    for i in range(5):
        name = f"chunk-{i:05d}.{fmt}"
        record = manifest["chunks"][name]
        assert record["runs"] == [8 * i, 8 * i + 8] and record["rows"] == 8
        path = store / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        assert record["files"] == len(files)
        assert record["bytes"] == sum(p.stat().st_size for p in files)
        if fmt == "parquet":  # a Parquet chunk's checksum is the SHA-256 of the file
            assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            meta = json.loads(pq.read_schema(path).metadata[b"cmo_sim_sweep"])
        else:
            meta = json.loads(xr.open_zarr(path, consolidated=False).attrs["cmo_sim_sweep"])
        # Each chunk says which store, chunk and runs it is.
        assert meta["identity"] == manifest["identity"]
        assert meta["chunk"] == i and meta["runs"] == [8 * i, 8 * i + 8]
    if fmt == "zarr":  # every file of the consolidated group is recorded too
        files = manifest["root"]["files"]
        assert "zarr.json" in files and any(n.startswith("performance/") for n in files)
        size, sha = files["zarr.json"]
        data = (store / "zarr.json").read_bytes()
        assert size == len(data) and sha == hashlib.sha256(data).hexdigest()


def test_an_undamaged_store_opens_without_a_warning_at_either_level(stores):
    for fmt in ("parquet", "zarr"):
        full = no_warnings(open_sweep, stores[fmt])
        quick = no_warnings(open_sweep, stores[fmt], verify="quick")
        pd.testing.assert_frame_equal(full.summary, quick.summary)
        assert full.meta["verified"] == "full" and quick.meta["verified"] == "quick"
        assert full.n_runs == 40


@pytest.mark.parametrize("fmt", ["parquet", "zarr"])
def test_a_verified_open_reads_and_hashes_each_chunk_once(stores, monkeypatch, fmt):
    # Verifying in full adds only the hashing: each chunk is read once, and the bytes hashed
    # are the bytes parsed (no second read of a chunk, its schema or its folder).
    from cmo_sim.sweep import store as store_module

    read, hashed, parsed = [], [], []
    real_read, real_sha = store_module._read_all, store_module._sha_of

    def read_all(path):
        contents = real_read(path)
        read.append((path.name, contents))
        return contents

    def sha_of(contents):
        hashed.append(contents)
        return real_sha(contents)

    def refuse(*args, **kwargs):
        raise AssertionError("a chunk read a second time")

    monkeypatch.setattr(store_module, "_read_all", read_all)
    monkeypatch.setattr(store_module, "_sha_of", sha_of)
    monkeypatch.setattr(store_module, "_digest", refuse)
    monkeypatch.setattr(store_module, "_measure", refuse)
    monkeypatch.setattr(store_module.pq, "read_schema", refuse)
    if fmt == "parquet":
        real_table = store_module.pq.read_table
        monkeypatch.setattr(store_module.pq, "read_table", lambda source, **kwargs: (
            parsed.append(source), real_table(source, **kwargs))[1])
    result = no_warnings(open_sweep, stores[fmt])
    assert result.n_runs == 40
    names = [name for name, _ in read]
    assert names == [f"chunk-{i:05d}.{fmt}" for i in range(5)]
    assert len(hashed) == 5 and all(h is c for h, (_, c) in zip(hashed, read, strict=True))
    if fmt == "parquet":
        assert len(parsed) == 5 and not any(isinstance(s, str | os.PathLike) for s in parsed)


# -- damage: detected by name, repaired by resuming -----------------------------------------------
def _marks(damage):
    fast = damage.format == "parquet" or damage.name in FAST_ZARR
    return () if fast else (pytest.mark.slow,)


@pytest.mark.parametrize("damage", [pytest.param(d, id=d.name, marks=_marks(d)) for d in DAMAGES])
def test_damage_is_named_and_resuming_repairs_it(stores, tmp_path, damage):
    store = copy_of(stores, damage.format, tmp_path)
    named = damage.apply(store, stores[f"foreign.{damage.format}"])
    with pytest.raises(StoreIntegrityError) as found:
        open_sweep(store)
    error = found.value
    assert isinstance(error, ValueError) and error.store == store
    assert set(named) <= set(error.files), (named, str(error))
    assert str(store) in str(error) and all(name in str(error) for name in named)

    with pytest.warns(StoreWarning, match="repairing damage") as said:
        repaired = run_sweep(SWEEP, store=store, **RUN)
    told = " ".join(str(w.message) for w in said)
    assert all(name in told for name in named), told
    reference = open_sweep(stores[damage.format])
    pd.testing.assert_frame_equal(repaired.summary, reference.summary)
    again = no_warnings(open_sweep, store)  # verified in full, no damage left
    pd.testing.assert_frame_equal(again.summary, reference.summary)
    assert not [p.name for p in store.iterdir() if p.name.startswith(".")]
    if damage.format == "zarr":  # the group other tools open is whole again
        xr.testing.assert_identical(xr.open_zarr(store).load(),
                                    xr.open_zarr(stores["zarr"]).load())


def test_resuming_recomputes_only_the_damaged_chunks(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    flip_bytes(store / "chunk-00003.parquet")
    with pytest.warns(StoreWarning, match=r"recomputing 1 chunk: chunk-00003\.parquet$"):
        res = run_sweep(SWEEP, store=store, **RUN)
    assert res.meta["chunks_run"] == 1


def test_quick_checks_sizes_runs_and_identity_full_also_checksums(stores, tmp_path):
    # Same size, changed content: only the checksum sees it.
    store = copy_of(stores, "zarr", tmp_path)
    meta = store / "chunk-00001.zarr" / "performance" / "zarr.json"
    meta.write_text(meta.read_text().replace("ambition units", "AMBITION UNITS"))
    no_warnings(open_sweep, store, verify="quick")
    with pytest.raises(StoreIntegrityError, match=r"chunk-00001\.zarr: content changed"):
        open_sweep(store, verify="full")
    # A run_sweep that verifies quickly does not see it either; one in full repairs it.
    assert run_sweep(SWEEP, store=store, verify="quick", **RUN).meta["chunks_run"] == 0
    with pytest.warns(StoreWarning, match="chunk-00001.zarr"):
        assert run_sweep(SWEEP, store=store, **RUN).meta["chunks_run"] == 1
    # Sizes, duplicates and foreign chunks are found at either level.
    for name in ("parquet", "foreign"):
        store = tmp_path / f"{name}.parquet"
        shutil.copytree(stores["parquet"], store)
        source = (stores["foreign.parquet"] if name == "foreign" else store) / (
            "chunk-00001.parquet" if name == "parquet" else "chunk-00002.parquet")
        shutil.copy2(source, store / "chunk-00002.parquet")
        kind = "a copy of chunk-00001.parquet" if name == "parquet" else "another sweep"
        with pytest.raises(StoreIntegrityError, match=rf"chunk-00002\.parquet: .*{kind}"):
            open_sweep(store, verify="quick")


@pytest.mark.parametrize("bad", ["fast", True, None])
def test_verify_must_be_full_or_quick(stores, bad):
    with pytest.raises(ValueError, match=r"^verify: .* is not allowed \(allowed: 'full'"):
        open_sweep(stores["parquet"], verify=bad)
    with pytest.raises(ValueError, match=r"^verify: .* is not allowed"):
        run_sweep(SWEEP, store=stores["parquet"], verify=bad, **RUN)


def test_a_partial_read_leaves_out_missing_chunks_loudly_and_never_reads_damaged_ones(
        stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    (store / "chunk-00001.parquet").unlink()
    with pytest.warns(StoreWarning, match=r"left out: chunk-00001\.parquet: missing"):
        partial = open_sweep(store, allow_partial=True)
    assert partial.n_runs == 32 and 8 not in set(partial.summary["run"])
    flip_bytes(store / "chunk-00004.parquet")
    with pytest.raises(StoreIntegrityError, match=r"chunk-00004\.parquet: content changed"):
        open_sweep(store, allow_partial=True)


def test_every_problem_is_listed_in_one_error(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    (store / "chunk-00000.parquet").unlink()
    flip_bytes(store / "chunk-00002.parquet")
    shutil.copy2(store / "chunk-00003.parquet", store / "chunk-00004.parquet")
    with pytest.raises(StoreIntegrityError) as found:
        open_sweep(store)
    assert set(found.value.files) == {"chunk-00000.parquet", "chunk-00002.parquet",
                                      "chunk-00004.parquet"}
    kinds = {p.file: p.kind for p in found.value.problems}
    assert kinds == {"chunk-00000.parquet": "missing", "chunk-00002.parquet": "checksum",
                     "chunk-00004.parquet": "duplicate"}


def test_a_chunk_whose_writer_died_before_recording_it_is_checked_and_kept(stores, tmp_path):
    store = copy_of(stores, "zarr", tmp_path)
    manifest = json.loads((store / MANIFEST).read_text())
    del manifest["chunks"]["chunk-00004.zarr"], manifest["root"]
    (store / MANIFEST).write_text(json.dumps(manifest))
    (store / "zarr.json").unlink()
    with pytest.raises(StoreIntegrityError, match=r"chunk-00004\.zarr: present but not recorded"):
        open_sweep(store)
    with pytest.warns(StoreWarning, match=r"checked and recorded: chunk-00004\.zarr"):
        res = run_sweep(SWEEP, store=store, **RUN)
    assert res.meta["chunks_run"] == 0
    assert "chunk-00004.zarr" in json.loads((store / MANIFEST).read_text())["chunks"]
    pd.testing.assert_frame_equal(no_warnings(open_sweep, store).summary,
                                  open_sweep(stores["zarr"]).summary)


def test_a_damaged_design_file_is_named_and_rewritten(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    flip_bytes(store / "design.npy", 8, 0.9)
    with pytest.raises(StoreIntegrityError, match=r"design\.npy: "):
        open_sweep(store)
    with pytest.warns(StoreWarning, match=r"design\.npy: damaged; rewritten"):
        run_sweep(SWEEP, store=store, **RUN)
    pd.testing.assert_frame_equal(no_warnings(open_sweep, store).summary,
                                  open_sweep(stores["parquet"]).summary)


def test_an_unexpected_chunk_file_is_reported_and_removed_on_resume(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    shutil.copy2(store / "chunk-00001.parquet", store / "chunk-00009.parquet")
    with pytest.raises(StoreIntegrityError, match=r"chunk-00009\.parquet: not a chunk of this"):
        open_sweep(store)
    with pytest.warns(StoreWarning, match=r"chunk-00009\.parquet"):
        assert run_sweep(SWEEP, store=store, **RUN).meta["chunks_run"] == 0
    assert not (store / "chunk-00009.parquet").exists()


def test_an_edited_manifest_of_another_sweep_is_not_resumed(stores, tmp_path):
    # The seed edited in the manifest, and the run asks for that seed: the chunks were made
    # with another, so the store is refused rather than mixed.
    store = copy_of(stores, "parquet", tmp_path)
    manifest = json.loads((store / MANIFEST).read_text())
    manifest["seed"] = 7
    (store / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StoreIntegrityError, match=r"manifest\.json: edited .*seed differs"):
        open_sweep(store)
    with pytest.raises(ValueError, match=r"seed differs \(store: 7, this run: 3\).*also edited"):
        run_sweep(SWEEP, store=store, seed=3, **RUN)


def test_a_version_1_store_is_read_with_a_warning_and_upgraded_on_resume(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    manifest = json.loads((store / MANIFEST).read_text())
    for key in ("identity", "chunks"):
        del manifest[key]
    manifest["cmo_sim_sweep_store"] = 1
    (store / MANIFEST).write_text(json.dumps(manifest))
    for chunk in store.glob("chunk-*.parquet"):  # chunks as version 1 wrote them
        table = pq.read_table(chunk)
        meta = json.loads(table.schema.metadata[b"cmo_sim_sweep"])
        meta = {k: v for k, v in meta.items() if k not in ("identity", "chunk", "runs")}
        pq.write_table(table.replace_schema_metadata(
            {**table.schema.metadata, b"cmo_sim_sweep": json.dumps(meta).encode()}), chunk)
    reference = open_sweep(stores["parquet"]).summary
    with pytest.warns(StoreWarning, match="store version 1"):
        pd.testing.assert_frame_equal(open_sweep(store).summary, reference)
    assert run_sweep(SWEEP, store=store, **RUN).meta["chunks_run"] == 0
    upgraded = json.loads((store / MANIFEST).read_text())
    assert upgraded["cmo_sim_sweep_store"] == 2 and len(upgraded["chunks"]) == 5
    pd.testing.assert_frame_equal(no_warnings(open_sweep, store).summary, reference)


# -- one writer at a time -------------------------------------------------------------------------
def _write(path: Path, gate: Path | None, start: Path | None, said: Path) -> None:
    """A writer process: run SWEEP into ``path``; write its refusal, if any, to ``said``.

    ``gate``: pause while chunk 1 is written under its temporary name, until ``gate.go``
    exists (``gate.ready`` names the temporary). ``start``: wait for that file first.
    """
    while start is not None and not start.exists():
        time.sleep(0.01)
    if gate is not None:
        record = SweepStore._record

        def paused(self, target, index):
            if index == 1 and target.name.startswith("."):
                gate.with_suffix(".ready").write_text(target.name)
                while not gate.with_suffix(".go").exists():
                    time.sleep(0.01)
            return record(self, target, index)

        SweepStore._record = paused
    try:
        run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    except StoreLockedError as exc:
        said.write_text(json.dumps({"message": str(exc), "pid": exc.pid, "host": exc.host}))
        os._exit(3)
    os._exit(0)


def _writer(path: Path, gate: Path | None = None, start: Path | None = None):
    """A separate process (forked: no second import) writing SWEEP into ``path``."""
    process = multiprocessing.get_context("fork").Process(
        target=_write, args=(path, gate, start, path.parent / f"{path.name}.refusal"),
        daemon=True)
    process.start()
    return process


def _wait_for(path: Path, process, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.is_alive(), f"writer exited with {process.exitcode}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_a_second_writer_process_is_refused_and_leaves_the_first_alone(stores, tmp_path):
    # Writers of a Parquet and a Zarr store, each paused with a chunk under its temporary
    # name; a second process on each store (started once the first holds it) is refused and
    # removes nothing.
    start = tmp_path / "start"
    formats = ("parquet", "zarr")
    firsts = {fmt: _writer(tmp_path / f"s.{fmt}", gate=tmp_path / f"{fmt}.gate")
              for fmt in formats}
    seconds = {fmt: _writer(tmp_path / f"s.{fmt}", start=start) for fmt in formats}
    for fmt, first in firsts.items():
        _wait_for(tmp_path / f"{fmt}.ready", first)
    temporaries = {fmt: tmp_path / f"s.{fmt}" / (tmp_path / f"{fmt}.ready").read_text()
                   for fmt in formats}
    start.write_text("")
    try:
        _check_refusals(tmp_path, firsts, seconds, temporaries)
    finally:
        for fmt in formats:
            (tmp_path / f"{fmt}.go").write_text("")
        for process in (*firsts.values(), *seconds.values()):
            process.join(timeout=120)
            if process.is_alive():
                process.kill()
    for fmt, first in firsts.items():
        assert first.exitcode == 0
        store = tmp_path / f"s.{fmt}"
        assert not [p.name for p in store.iterdir() if p.name.startswith(".")]  # lock gone too
        pd.testing.assert_frame_equal(no_warnings(open_sweep, store).summary,
                                      open_sweep(stores[fmt]).summary)


def _check_refusals(tmp_path, firsts, seconds, temporaries) -> None:
    for fmt, second in seconds.items():
        second.join(timeout=120)
        assert second.exitcode == 3
        store = tmp_path / f"s.{fmt}"
        refusal = json.loads((tmp_path / f"s.{fmt}.refusal").read_text())
        assert refusal["pid"] == firsts[fmt].pid and refusal["host"] == socket.gethostname()
        assert refusal["message"].startswith(
            f"store: {store} is being written by another process (pid {firsts[fmt].pid} on "
            f"host {socket.gethostname()}, since ")
        assert str(store / LOCK) in refusal["message"]
        assert temporaries[fmt].exists()  # the first writer's temporary is untouched
        lock = json.loads((store / LOCK).read_text())
        assert lock["pid"] == firsts[fmt].pid and lock["host"] == socket.gethostname()
        assert "started" in lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_lock_is_taken_over_with_a_message(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    pid = _dead_pid()
    (store / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": pid,
                                          "started": "2020-01-01T00:00:00+00:00"}))
    with pytest.warns(StoreWarning, match=rf"took over the stale lock of pid {pid} on host "):
        run_sweep(SWEEP, store=store, **RUN)
    assert not (store / LOCK).exists()


def test_a_lock_of_a_running_process_or_another_host_is_not_taken_over(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holders = [{"host": socket.gethostname(), "pid": sleeper.pid},
                   {"host": "elsewhere.example", "pid": 4242}]
        for holder in holders:
            (store / LOCK).write_text(json.dumps({**holder, "started": "2020-01-01"}))
            with pytest.raises(StoreLockedError) as refused:
                run_sweep(SWEEP, store=store, **RUN)
            assert refused.value.pid == holder["pid"] and refused.value.host == holder["host"]
            assert f"pid {holder['pid']} on host {holder['host']}" in str(refused.value)
            assert json.loads((store / LOCK).read_text())["pid"] == holder["pid"]
        assert "another host cannot be checked" in str(refused.value)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_one_process_cannot_write_a_store_twice_at_once_and_readers_need_no_lock(
        stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    manifest = json.loads((store / MANIFEST).read_text())
    manifest = {k: v for k, v in manifest.items() if k not in ("chunks", "identity")}
    with SweepStore.prepare(store, manifest, SWEEP.unit, chunk_runs_given=False):
        with pytest.raises(StoreLockedError, match=rf"pid {os.getpid()} on host"):
            run_sweep(SWEEP, store=store, **RUN)
        assert no_warnings(open_sweep, store).n_runs == 40
    assert not (store / LOCK).exists()
    assert run_sweep(SWEEP, store=store, **RUN).meta["chunks_run"] == 0


def test_the_lock_is_released_when_a_run_fails(tmp_path, monkeypatch):
    store = tmp_path / "s.parquet"
    write = SweepStore.write

    def fails_on_third(self, output, design=None):
        if output.index == 2:
            raise RuntimeError("disk on fire")
        write(self, output, design)

    monkeypatch.setattr(SweepStore, "write", fails_on_third)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_sweep(SWEEP, store=store, chunk_runs=CHUNK, **RUN)
    assert not (store / LOCK).exists()
    monkeypatch.setattr(SweepStore, "write", write)
    assert run_sweep(SWEEP, store=store, **RUN).meta["chunks_run"] == 3


def test_temporaries_of_a_running_writer_are_kept_those_of_dead_ones_removed(stores, tmp_path):
    store = copy_of(stores, "parquet", tmp_path)
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = store / f".chunk-00001.parquet.tmp-{host}-{sleeper.pid}-0123abcd"
        dead = store / f".chunk-00002.parquet.tmp-{host}-{_dead_pid()}-0123abcd"
        remote = store / ".chunk-00003.parquet.tmp-elsewhere-12-0123abcd"
        legacy = store / ".chunk-00004.parquet.81234.tmp"
        for path in (live, dead, remote, legacy):
            path.write_bytes(b"half a chunk")
        run_sweep(SWEEP, store=store, **RUN)
        assert live.exists() and remote.exists()
        assert not dead.exists() and not legacy.exists()
        no_warnings(open_sweep, store)  # temporaries are not chunks
    finally:
        sleeper.kill()
        sleeper.wait()


def test_writing_needs_the_lock(stores):
    reader = SweepStore.open(stores["parquet"])
    with pytest.raises(ValueError, match=r"is open for reading; write through SweepStore\.prepare"):
        reader.consolidate(SWEEP.values)  # a Parquet store has no root group: nothing written
        reader.write(None)


def test_store_checks_agree_on_run_ranges(stores):
    store = SweepStore.open(stores["zarr"])
    assert [store.chunk_runs_of(i) for i in range(5)] == [(8 * i, 8 * i + 8) for i in range(5)]
    summary, traj = store.read(3)
    assert traj is None and np.array_equal(summary["run"], np.arange(24, 32))


# -- the docs page's example, executed ------------------------------------------------------------
def test_docs_stores_example_runs_and_says_what_it_says(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "stores.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the page has one executable example"
    (tmp_path / "scenarios").mkdir()
    shutil.copy2(ROOT / "scenarios" / "voluntary_alliance.yaml", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/stores.md", "exec"), {"__name__": "docs_stores_example"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["('chunk-00002.parquet',)", "1", "True"]
    # The comments beside the prints say the same.
    said = re.findall(r"print\(.*\)  # (\S+)", blocks[0])
    assert said == printed
