"""Resumable sweep stores: a directory with a manifest and one file per finished chunk.

Layout of a store directory::

    manifest.json          what was run: sweep spec, design hash, steps, seed, theory hash,
                           record, chunk size, format
    design.npy             the unit design, exactly
    chunk-00000.parquet    Parquet stores: the chunk's per-run summary
    chunk-00000.zarr/      Zarr stores: the chunk's Dataset (summary and trajectories)
    zarr.json, <variable>/ Zarr stores, once every chunk is finished: the whole sweep as one
                           Zarr group at the store's root, so ``xarray.open_zarr(store)`` opens
                           it (dim ``run``; the design's factors, ``point``, ``replicate`` and
                           ``scenario`` as coordinates; meaning and unit of every variable in
                           its attributes; what was run in the group's ``cmo_sim_sweep``)

Every file is written under a temporary name (starting with ``.``) and moved into place with
``os.replace``, so a chunk file either is complete or does not exist, whenever the process is
killed. A chunk is finished exactly when its file exists; resuming runs only the others. The
root group is written last, its ``zarr.json`` moved into place after its variables, and written
again whenever it is missing (after an interrupted run). One ``run_sweep`` at a time should
write to a store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from cmo_sim.results import SUMMARY_FIELDS, _atomic_dir
from cmo_sim.sweep.executors import ChunkOutput, tidy_chunk
from cmo_sim.theory import Theory

__all__ = ["MANIFEST", "SweepStore", "store_format", "theory_hash"]

MANIFEST = "manifest.json"
DESIGN = "design.npy"
STORE_VERSION = 1
_CHUNK = re.compile(r"chunk-([0-9]+)\.(parquet|zarr)")

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


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class SweepStore:
    """A sweep store directory (see the module docstring).

    Use :meth:`prepare` to create or resume one for a run, :meth:`open` to read one.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepStore:
        """Open an existing store; FileNotFoundError if ``path`` holds none."""
        path = Path(path)
        file = path / MANIFEST
        if not file.is_file():
            raise FileNotFoundError(f"{path}: no sweep store here (no {MANIFEST})")
        try:
            manifest = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: cannot read the manifest ({exc})") from None
        if manifest.get("cmo_sim_sweep_store") != STORE_VERSION:
            raise ValueError(
                f"{file}: not a cmo-sim sweep store of version {STORE_VERSION} "
                f"(got {manifest.get('cmo_sim_sweep_store')!r})"
            )
        return cls(path, manifest)

    @classmethod
    def prepare(
        cls, path: str | os.PathLike, manifest: dict[str, Any], unit: np.ndarray,
        *, chunk_runs_given: bool,
    ) -> SweepStore:
        """Create a store for ``manifest``, or check that an existing one was made by it.

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

        Raises
        ------
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
        if (path / MANIFEST).is_file():
            store = cls.open(path)
            stored = store.manifest
            if not chunk_runs_given:
                manifest = {**manifest, "chunk_runs": stored["chunk_runs"],
                            "n_chunks": stored["n_chunks"]}
            diffs = [
                _difference(label, _get(stored, keys), _get(manifest, keys))
                for keys, label in _COMPARED
                if _canonical(_get(stored, keys)) != _canonical(_get(manifest, keys))
            ]
            if diffs:
                raise ValueError(
                    f"store: {path} was made by a different sweep ({'; '.join(diffs)}); it is "
                    "not resumed or mixed: use a new store path, or run the sweep that made it"
                )
            store._clean_temporary()
            return store
        if path.exists():
            others = [p.name for p in path.iterdir() if not p.name.startswith(".")]
            if others:
                raise ValueError(
                    f"store: {path} exists and is not a cmo-sim sweep store (no {MANIFEST}; "
                    f"holds {', '.join(sorted(others)[:3])}); give a new or empty directory"
                )
        path.mkdir(parents=True, exist_ok=True)
        _write_atomic(path / DESIGN, lambda tmp: _save_npy(tmp, unit))
        _write_atomic(path / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
        store = cls(path, manifest)
        store._clean_temporary()
        return store

    def _clean_temporary(self) -> None:
        """Remove half-written chunks of a killed run (temporary names start with a dot)."""
        for entry in self.path.iterdir():
            if entry.name.startswith((".chunk-", f".{DESIGN}.", f".{MANIFEST}.", ".root.")):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(
                    missing_ok=True)

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

    def unit(self) -> np.ndarray:
        """The stored unit design."""
        return np.load(self.path / DESIGN, allow_pickle=False)

    def _chunk_path(self, index: int) -> Path:
        return self.path / f"chunk-{index:05d}.{self.format}"

    def finished(self) -> list[int]:
        """Indices of the chunks whose files exist, in order."""
        found = set()
        for entry in self.path.iterdir():
            match = _CHUNK.fullmatch(entry.name)
            if match and match.group(2) == self.format and int(match.group(1)) < self.n_chunks:
                found.add(int(match.group(1)))
        return sorted(found)

    def write(self, output: ChunkOutput, design: pd.DataFrame | None = None) -> None:
        """Write one finished chunk atomically.

        ``design`` (the sweep's design values, one row per point) adds each run's factor
        values as columns, so that a chunk file describes itself to any reader; every column
        carries its meaning and unit (Parquet field metadata, Zarr attributes).
        """
        target = self._chunk_path(output.index)
        if self.format == "parquet":
            table = _parquet_table(output.summary, design, self.manifest)
            _write_atomic(target, lambda tmp: pq.write_table(table, tmp))
            return

        def write(tmp: Path) -> None:
            _chunk_dataset(output, design).to_zarr(tmp / "chunk.zarr", mode="w",
                                                   consolidated=False)

        _atomic_dir(target, write, inner="chunk.zarr")

    def consolidate(self, design: pd.DataFrame) -> None:
        """Write the whole sweep as one Zarr group at the store's root (Zarr stores only).

        The chunks' datasets are concatenated along ``run``; the design's factors become
        coordinates. The group is built in a temporary folder and its entries moved into the
        root, ``zarr.json`` last, so the root is a group only once it is complete.
        """
        if self.format != "zarr":
            return
        parts = []
        for index in self.finished():
            with xr.open_zarr(self._chunk_path(index), consolidated=False, chunks=None) as ds:
                parts.append(ds.load())
        whole = xr.concat(parts, dim="run", data_vars="all", join="exact")
        coords = [c for c in (*design.columns, "point", "replicate", "scenario")
                  if c in whole.data_vars]
        whole = whole.set_coords(coords)
        whole.attrs = {"cmo_sim_sweep": json.dumps(
            {key: self.manifest.get(key)
             for key in ("sweep", "steps", "seed", "theory", "record", "design_hash")},
            default=str)}
        tmp = Path(tempfile.mkdtemp(prefix=".root.", dir=self.path))
        try:
            with warnings.catch_warnings():
                # Consolidated metadata (one read to open the group) is zarr-python's
                # extension of the v3 format; xarray and zarr-python read it.
                warnings.filterwarnings("ignore", message="Consolidated metadata")
                whole.to_zarr(tmp / "group", mode="w", consolidated=True)
            (self.path / "zarr.json").unlink(missing_ok=True)
            entries = sorted(p.name for p in (tmp / "group").iterdir())
            for name in [n for n in entries if n != "zarr.json"] + ["zarr.json"]:
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(tmp / "group" / name, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @property
    def consolidated(self) -> bool:
        """Whether the root group of a finished Zarr store is in place."""
        return (self.path / "zarr.json").is_file()

    def read(self, index: int) -> tuple[pd.DataFrame, xr.Dataset | None]:
        """The summary (and trajectories) of one finished chunk."""
        target = self._chunk_path(index)
        if self.format == "parquet":
            return tidy_chunk(pd.read_parquet(target)), None
        with xr.open_zarr(target, consolidated=False, chunks=None) as ds:
            ds = ds.load()
        summary_vars = [v for v in ds.data_vars if ds[v].dims == ("run",)]
        frame = tidy_chunk(ds[summary_vars].to_dataframe().reset_index())
        traj_vars = [v for v in ds.data_vars if str(v).startswith("traj_")]
        traj = None
        if traj_vars:
            traj = ds[traj_vars].rename({v: str(v).removeprefix("traj_") for v in traj_vars})
            traj = traj.assign_coords(
                point=("run", frame["point"].to_numpy()),
                replicate=("run", frame["replicate"].to_numpy()),
            )
            if "active" in traj:
                traj["active"] = traj["active"].astype(bool)
        return frame, traj


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _save_npy(path: Path, unit: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(unit, dtype="<f8"), allow_pickle=False)


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
                   manifest: Mapping[str, Any]) -> pa.Table:
    frame = _with_design(summary, design)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for schema_field in table.schema:
        meaning, unit = _field_description(schema_field.name)
        fields.append(schema_field.with_metadata({"description": meaning, "units": unit}))
    metadata = dict(table.schema.metadata or {})
    metadata[b"cmo_sim_sweep"] = json.dumps(
        {key: manifest.get(key) for key in ("sweep", "steps", "seed", "theory", "record")},
        default=str).encode()
    return table.cast(pa.schema(fields, metadata=metadata))


def _chunk_dataset(output: ChunkOutput, design: pd.DataFrame | None = None) -> xr.Dataset:
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
    return ds
