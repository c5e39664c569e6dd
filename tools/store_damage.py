"""Ways to damage a sweep store, for the integrity tests and benchmark.

Each :class:`Damage` changes a finished store of a given format (Parquet or Zarr) the way a
careless user, a failing disk or a bad copy would, and says which files a verifier must name.
Every damage works on a store of at least 5 chunks; ``foreign`` is a finished store of the same
sweep, format and chunk size written with another seed.

    from store_damage import DAMAGES
    for damage in DAMAGES:
        named = damage.apply(store, foreign)   # files the error must name
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DAMAGES", "Damage", "flip_bytes"]


def flip_bytes(path: Path, count: int = 4, at: float = 0.5) -> None:
    """Invert ``count`` bytes of a file, starting at the fraction ``at`` of its length."""
    data = bytearray(path.read_bytes())
    start = min(int(len(data) * at), max(0, len(data) - count))
    for i in range(start, min(start + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _chunk(store: Path, index: int) -> Path:
    fmt = "zarr" if store.name.endswith(".zarr") else "parquet"
    return store / f"chunk-{index:05d}.{fmt}"


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _copy(source: Path, target: Path) -> None:
    if target.exists():
        _remove(target)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def _data_file(chunk: Path, variable: str = "performance") -> Path:
    """A Zarr chunk's data file of one variable (``<variable>/c/0``)."""
    files = sorted(p for p in (chunk / variable).rglob("*") if p.is_file()
                   and p.name != "zarr.json")
    return files[0]


def _edit_manifest(store: Path, edit: Callable[[dict], None]) -> None:
    path = store / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=1))


@dataclass(frozen=True)
class Damage:
    """One kind of damage: ``apply(store, foreign)`` damages ``store``, returns files to name."""

    name: str
    format: str
    what: str
    damage: Callable[[Path, Path], list[str]]

    def apply(self, store: Path, foreign: Path) -> list[str]:
        """Damage ``store``; the file names (relative to it) a verifier must report."""
        return self.damage(store, foreign)


# -- chunk files (both formats) ------------------------------------------------------------------
def _delete_one(store: Path, foreign: Path) -> list[str]:
    _remove(_chunk(store, 2))
    return [_chunk(store, 2).name]


def _delete_two(store: Path, foreign: Path) -> list[str]:
    _remove(_chunk(store, 1))
    _remove(_chunk(store, 3))
    return [_chunk(store, 1).name, _chunk(store, 3).name]


def _duplicate(store: Path, foreign: Path) -> list[str]:
    _copy(_chunk(store, 1), _chunk(store, 2))
    return [_chunk(store, 2).name]


def _foreign(store: Path, foreign: Path) -> list[str]:
    _copy(_chunk(foreign, 2), _chunk(store, 2))
    return [_chunk(store, 2).name]


def _foreign_unrecorded(store: Path, foreign: Path) -> list[str]:
    """A chunk of another sweep put where this (unfinished) store has no chunk yet."""
    name = _chunk(store, 4).name
    _remove(_chunk(store, 4))
    _edit_manifest(store, lambda m: m["chunks"].pop(name))
    _copy(_chunk(foreign, 4), _chunk(store, 4))
    return [name]


# -- Parquet files --------------------------------------------------------------------------------
def _parquet_truncate(store: Path, foreign: Path) -> list[str]:
    path = _chunk(store, 2)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return [path.name]


def _parquet_flip(store: Path, foreign: Path) -> list[str]:
    flip_bytes(_chunk(store, 2), 4, 0.3)
    return [_chunk(store, 2).name]


# -- Zarr chunk folders ---------------------------------------------------------------------------
def _zarr_delete_data(store: Path, foreign: Path) -> list[str]:
    _data_file(_chunk(store, 2)).unlink()
    return [_chunk(store, 2).name]


def _zarr_truncate(store: Path, foreign: Path) -> list[str]:
    path = _data_file(_chunk(store, 2))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return [_chunk(store, 2).name]


def _zarr_flip(store: Path, foreign: Path) -> list[str]:
    flip_bytes(_data_file(_chunk(store, 2)), 4, 0.5)
    return [_chunk(store, 2).name]


def _zarr_metadata(store: Path, foreign: Path) -> list[str]:
    """A chunk's array metadata edited in place, same size: a unit changed."""
    path = _chunk(store, 2) / "performance" / "zarr.json"
    text = path.read_text()
    assert "ambition units" in text
    path.write_text(text.replace("ambition units", "AMBITION UNITS"))
    return [_chunk(store, 2).name]


def _zarr_root_flip(store: Path, foreign: Path) -> list[str]:
    """A data file of the consolidated root group (what xarray.open_zarr reads) changed."""
    path = _data_file(store)
    flip_bytes(path, 4, 0.5)
    return [path.relative_to(store).as_posix()]


# -- the manifest ---------------------------------------------------------------------------------
def _manifest_n_chunks(store: Path, foreign: Path) -> list[str]:
    _edit_manifest(store, lambda m: m.update(n_chunks=m["n_chunks"] - 1))
    return ["manifest.json"]


def _manifest_runs(store: Path, foreign: Path) -> list[str]:
    name = _chunk(store, 2).name

    def edit(m: dict) -> None:
        m["chunks"][name]["runs"] = m["chunks"][_chunk(store, 1).name]["runs"]

    _edit_manifest(store, edit)
    return ["manifest.json"]


def _manifest_checksum(store: Path, foreign: Path) -> list[str]:
    name = _chunk(store, 2).name

    def edit(m: dict) -> None:
        sha = m["chunks"][name]["sha256"]
        m["chunks"][name]["sha256"] = ("0" if sha[0] != "0" else "1") + sha[1:]

    _edit_manifest(store, edit)
    return [name]


def _manifest_seed(store: Path, foreign: Path) -> list[str]:
    _edit_manifest(store, lambda m: m.update(seed=m["seed"] + 1))
    return ["manifest.json"]


DAMAGES: tuple[Damage, ...] = (
    Damage("parquet: one chunk deleted", "parquet", "chunk-00002 removed", _delete_one),
    Damage("parquet: two chunks deleted", "parquet", "chunks 1 and 3 removed", _delete_two),
    Damage("parquet: chunk truncated", "parquet", "cut to half its bytes", _parquet_truncate),
    Damage("parquet: bytes flipped", "parquet", "4 bytes inverted at 30%", _parquet_flip),
    Damage("parquet: chunk copied over another", "parquet", "chunk 1 over chunk 2", _duplicate),
    Damage("parquet: foreign chunk", "parquet", "another seed's chunk 2 over chunk 2", _foreign),
    Damage("parquet: foreign chunk, unrecorded", "parquet",
           "chunk 4 and its record removed, another seed's chunk 4 put there", _foreign_unrecorded),
    Damage("parquet: manifest n_chunks", "parquet", "n_chunks one less", _manifest_n_chunks),
    Damage("parquet: manifest run range", "parquet", "chunk 2 recorded with chunk 1's runs",
           _manifest_runs),
    Damage("parquet: manifest checksum", "parquet", "chunk 2's SHA-256 changed",
           _manifest_checksum),
    Damage("parquet: manifest seed", "parquet", "seed edited", _manifest_seed),
    Damage("zarr: chunk deleted", "zarr", "chunk-00002.zarr removed", _delete_one),
    Damage("zarr: data file deleted", "zarr", "performance/c/0 of chunk 2 removed",
           _zarr_delete_data),
    Damage("zarr: data file truncated", "zarr", "a data file of chunk 2 cut in half",
           _zarr_truncate),
    Damage("zarr: bytes flipped", "zarr", "4 bytes of a data file of chunk 2", _zarr_flip),
    Damage("zarr: chunk metadata edited", "zarr", "a unit in chunk 2's array metadata, "
           "same size", _zarr_metadata),
    Damage("zarr: chunk copied over another", "zarr", "chunk 1 over chunk 2", _duplicate),
    Damage("zarr: foreign chunk", "zarr", "another seed's chunk 2 over chunk 2", _foreign),
    Damage("zarr: manifest n_chunks", "zarr", "n_chunks one less", _manifest_n_chunks),
    Damage("zarr: manifest run range", "zarr", "chunk 2 recorded with chunk 1's runs",
           _manifest_runs),
    Damage("zarr: manifest checksum", "zarr", "chunk 2's SHA-256 changed", _manifest_checksum),
    Damage("zarr: root group bytes flipped", "zarr", "4 bytes of a data file of the "
           "consolidated group", _zarr_root_flip),
)
