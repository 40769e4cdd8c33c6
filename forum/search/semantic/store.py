"""Thread vectors on disk, beside the whoosh index of one generation.

Layout of ``<generation>/vectors/``::

    META.json          {"model": model id, "dim": n} of every vector here
    BASE               name of the base in use (replaced atomically)
    base-<ns>/         vectors.npy (float32 [n, dim], memory-mapped by readers),
                       ids.npy (int64 thread ids), fps.npy (uint64 text fingerprints),
                       center.npy (the vectors' mean), projection.npy and bits.npy
                       (uint64 [words, n]: sign bits of each vector less the mean in
                       three bases, the nearest-vector search's prefilter; computed
                       from the vectors when absent), codes.npy, scales.npy and
                       residuals.npy (int8 [n, dim] rows, each row's scale and
                       rounding error: the cheap first scoring of the prefilter's
                       rows; also computed when absent)
    delta.npz          rows written since the base: ids, vecs, fps; fp 0 = removed
    INCOMPLETE         present when a change was applied without the model
    pending.npy        int64 ids of visible threads whose vector is still to come: a
                       large apply (an import, a backlog) records them instead of
                       embedding them while it holds the write lock; the embedder
                       (``semantic.embed_pending``) computes them afterwards

Only the process holding the generation's whoosh write lock (or the rebuild filling an
unpublished generation) writes here, so writers never race. Each write replaces a file
atomically; a delta row overrides the base row of its thread, so a reader that sees a new
base with the old delta (compaction happens in that order) is still right.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIR = "vectors"
PENDING = "pending.npy"
COMPACT_AT = 2048  # delta rows before they are merged into a new base
PREFILTER_AT = 20_000  # base rows from which searches prefilter by sign bits
ROTATIONS = 3  # bases the sign bits are taken in (3 x dim bits a vector)


def fingerprint(model_id: str, text: str) -> int:
    """Nonzero 64-bit fingerprint of what a vector was made from (model and text)."""
    digest = hashlib.blake2b(f"{model_id}\0{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


@dataclass
class Codes:
    """A base's vectors as int8 rows: ``vecs[i] ~ codes[i] * scales[i]``, off by at most
    ``residuals[i]`` in length. A product with the codes is 4x less memory to read than
    with the float32 rows, and the residual bounds how far it can be from the exact
    product, so a search rescores exactly only the rows that could still make its top."""

    codes: np.ndarray  # int8 [n, dim]
    scales: np.ndarray  # float32 [n]: the largest |component| of the row / 127
    residuals: np.ndarray  # float32 [n]: |vecs[i] - codes[i] * scales[i]|


def int8_rows(vecs: np.ndarray) -> Codes:
    """``Codes`` of float32 rows (in bounded chunks, whatever n is)."""
    n, dim = vecs.shape
    out = Codes(np.zeros((n, dim), np.int8), np.zeros(n, np.float32), np.zeros(n, np.float32))
    for start in range(0, n, 8192):
        part = np.asarray(vecs[start : start + 8192], np.float32)
        scale = np.abs(part).max(axis=1, initial=0.0) / 127
        scale[scale == 0] = 1.0
        codes = np.clip(np.rint(part / scale[:, None]), -127, 127).astype(np.int8)
        error = np.linalg.norm(part - codes * scale[:, None], axis=1)
        end = start + len(part)
        out.codes[start:end], out.scales[start:end] = codes, scale
        out.residuals[start:end] = error
    return out


@dataclass
class Snapshot:
    """What a reader searches: the base rows still current, and the live delta rows."""

    model: str
    base_vecs: np.ndarray  # memory-mapped
    base_ids: np.ndarray
    base_live: np.ndarray | None  # bool mask, None when every base row is live
    delta_vecs: np.ndarray
    delta_ids: np.ndarray
    incomplete: bool
    base_bits: np.ndarray | None = None  # sign bits [words, n] (see ``sign_bits``)
    center: np.ndarray | None = None  # subtracted from thread vectors before the signs
    projection: np.ndarray | None = None  # the bases the signs are taken in
    base_codes: Codes | None = None  # int8 rows of the base (see ``int8_rows``)
    serial: int = 0  # set by the reader's cache: names these vectors for cached neighbours


def projection(dim: int) -> np.ndarray:
    """float32 [dim, ROTATIONS * dim]: the identity and ROTATIONS - 1 fixed random
    rotations side by side. Signs of a vector in several bases estimate its angles to
    others better than the signs of its own coordinates alone (recall@50 of real
    embeddings, 5% rescored: 0.84 with one basis, 0.97 with three)."""
    rng = np.random.default_rng(dim)
    bases = [np.eye(dim)]
    for _ in range(ROTATIONS - 1):
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        bases.append(q * np.sign(np.diag(r)))
    return np.concatenate(bases, axis=1).astype(np.float32)


def sign_bits(vecs: np.ndarray, proj: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """The signs of ``(vecs - center) @ proj`` packed 64 to a word, word-major (uint64
    [words, n]) so the Hamming distance to a query runs along contiguous rows. Thread
    vectors are centred (embeddings share a direction); a query is not: the ranking is
    by ``query . (vector - center)``."""
    vecs = np.atleast_2d(vecs)
    words = -(-proj.shape[1] // 64)
    packed = np.zeros((len(vecs), words * 8), np.uint8)
    for start in range(0, len(vecs), 8192):  # a bounded temporary, whatever n is
        part = np.asarray(vecs[start : start + 8192], np.float32)
        if center is not None:
            part = part - center
        bits = np.packbits(part @ proj > 0, axis=1)
        packed[start : start + len(part), : bits.shape[1]] = bits
    return np.ascontiguousarray(packed.view(np.uint64).T)


def query_bits(query: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``sign_bits`` of one uncentred query vector (uint64 [words]), without BLAS: one
    vector is quicker in this thread than across BLAS threads on a busy machine."""
    signs = np.einsum("j,jk->k", np.asarray(query, np.float32), proj) > 0
    packed = np.zeros(-(-proj.shape[1] // 64) * 8, np.uint8)
    bits = np.packbits(signs)
    packed[: len(bits)] = bits
    return packed.view(np.uint64)


_derived: dict[str, tuple] = {}
_derived_lock = threading.Lock()


def _derive(key: str, make):
    """``make()``, computed once per process for ``key`` (the last few kept)."""
    with _derived_lock:
        held = _derived.get(key)
    if held is None:
        held = make()
        with _derived_lock:
            if len(_derived) >= 8:
                _derived.pop(next(iter(_derived)))
            _derived[key] = held
    return held


def _codes(folder: Path, vecs: np.ndarray) -> Codes:
    """A base's ``Codes``: its files, or computed once per process for a base written
    before they existed."""
    try:
        return Codes(
            *(
                np.load(folder / f"{name}.npy", mmap_mode="r").view(np.ndarray)
                for name in ("codes", "scales", "residuals")
            )
        )
    except (OSError, ValueError):
        return _derive(f"{folder}:codes", lambda: int8_rows(vecs))


def _prefilter(folder: Path, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(center, projection, bits) of a base: its files, or computed once per process
    for a base written before they existed."""
    try:
        return (
            np.load(folder / "center.npy"),
            np.load(folder / "projection.npy"),
            np.load(folder / "bits.npy", mmap_mode="r").view(np.ndarray),  # plain rows
        )
    except (OSError, ValueError):
        pass

    def make():
        center, proj = _center(vecs), projection(vecs.shape[1])
        return center, proj, sign_bits(vecs, proj, center)

    return _derive(str(folder), make)


def _center(vecs: np.ndarray) -> np.ndarray:
    total = np.zeros(vecs.shape[1], np.float64)
    for start in range(0, len(vecs), 8192):
        total += np.asarray(vecs[start : start + 8192], np.float64).sum(axis=0)
    return (total / max(len(vecs), 1)).astype(np.float32)


class VectorStore:
    """The vectors of one generation directory."""

    def __init__(self, generation: str | os.PathLike):
        self.dir = Path(generation) / DIR
        self.loaded_base: Path | None = None  # the base folder ``_arrays`` read last

    # -- reading ------------------------------------------------------------------

    def meta(self) -> dict | None:
        try:
            return json.loads((self.dir / "META.json").read_text())
        except (OSError, ValueError):
            return None

    def incomplete(self) -> bool:
        return (self.dir / "INCOMPLETE").exists()

    def pending(self) -> np.ndarray:
        """Sorted ids of threads whose vector is still to be computed (see ``PENDING``)."""
        try:
            return np.load(self.dir / PENDING).astype(np.int64, copy=False)
        except (OSError, ValueError):
            return np.zeros(0, np.int64)

    def _base_name(self) -> str | None:
        try:
            name = (self.dir / "BASE").read_text().strip()
        except OSError:
            return None
        return name if name.startswith("base-") and "/" not in name else None

    def version(self) -> tuple:
        """Changes whenever a writer replaced a file (cheap: a few stats)."""
        out: list = [self._base_name()]
        for name in ("delta.npz", "INCOMPLETE", "META.json"):
            try:
                st = os.stat(self.dir / name)
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        base = self._base_name()
        if base is None:
            raise FileNotFoundError(self.dir / "BASE")
        folder = self.dir / base
        vecs = np.load(folder / "vectors.npy", mmap_mode="r")
        self.loaded_base = folder
        ids = np.load(folder / "ids.npy")
        fps = np.load(folder / "fps.npy")
        try:
            with np.load(self.dir / "delta.npz") as z:
                delta = {k: z[k] for k in ("ids", "vecs", "fps")}
        except FileNotFoundError:
            dim = vecs.shape[1]
            delta = {
                "ids": np.zeros(0, np.int64),
                "vecs": np.zeros((0, dim), np.float32),
                "fps": np.zeros(0, np.uint64),
            }
        return vecs, ids, fps, delta

    def snapshot(self) -> Snapshot | None:
        """The searchable vectors, or None when this generation has none."""
        meta = self.meta()
        if meta is None:
            return None
        try:
            vecs, ids, _fps, delta = self._arrays()
        except (OSError, ValueError):
            return None
        live = delta["fps"] != 0
        replaced = np.isin(ids, delta["ids"]) if len(delta["ids"]) else None
        center = proj = bits = codes = None
        if len(ids) >= PREFILTER_AT and self.loaded_base is not None:
            center, proj, bits = _prefilter(self.loaded_base, vecs)
            codes = _codes(self.loaded_base, vecs)
        return Snapshot(
            model=meta.get("model", ""),
            base_vecs=vecs.view(np.ndarray),  # still mapped; rows gather without memmap's wrapping
            base_ids=ids,
            base_live=None if replaced is None else ~replaced,
            delta_vecs=delta["vecs"][live],
            delta_ids=delta["ids"][live],
            incomplete=self.incomplete(),
            base_bits=bits,
            center=center,
            projection=proj,
            base_codes=codes,
        )

    def fingerprints(self) -> dict[int, int] | None:
        """thread id -> fingerprint of every vector present (None: no vectors here)."""
        if self.meta() is None:
            return None
        try:
            _vecs, ids, fps, delta = self._arrays()
        except (OSError, ValueError):
            return None
        out = {int(i): int(f) for i, f in zip(ids, fps, strict=True)}
        out.update((int(i), int(f)) for i, f in zip(delta["ids"], delta["fps"], strict=True))
        return {i: f for i, f in out.items() if f}

    # -- writing (the generation's single writer only) ------------------------------

    def write_base(self, model: str, ids, vecs, fps) -> None:
        """Replace every vector: a rebuild's full set (clears the delta)."""
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_meta(model, vecs.shape[1])
        self._publish_base(np.asarray(ids, np.int64), vecs, np.asarray(fps, np.uint64))
        _unlink(self.dir / "delta.npz")
        _unlink(self.dir / "INCOMPLETE")
        _unlink(self.dir / PENDING)

    def put(self, model: str, ids, vecs, fps) -> None:
        """Add or replace vectors of threads (``fps`` 0 marks a removed thread)."""
        meta = self.meta()
        if meta is None or meta.get("model") != model:
            self.mark_incomplete(f"vectors of model {meta and meta.get('model')}, not {model}")
            return
        vecs = np.asarray(vecs, np.float32).reshape(len(ids), int(meta["dim"]))
        _v, _i, _f, delta = self._arrays()
        keep = ~np.isin(delta["ids"], np.asarray(ids, np.int64))
        merged = {
            "ids": np.concatenate([delta["ids"][keep], np.asarray(ids, np.int64)]),
            "vecs": np.concatenate([delta["vecs"][keep], vecs]),
            "fps": np.concatenate([delta["fps"][keep], np.asarray(fps, np.uint64)]),
        }
        if len(merged["ids"]) >= COMPACT_AT:
            self._compact(merged)
        else:
            _atomic_npz(self.dir / "delta.npz", merged)

    def remove(self, model: str, ids) -> None:
        ids = list(ids)
        if ids and self.meta() is not None:
            dim = int(self.meta()["dim"])
            self.put(model, ids, np.zeros((len(ids), dim), np.float32), [0] * len(ids))

    def update_pending(self, add=(), discard=()) -> None:
        """Record threads ``add`` as waiting for their vector and ``discard`` as no
        longer waiting (embedded, or gone)."""
        have = self.pending()
        new = have
        add = np.asarray(list(add), np.int64)
        discard = np.asarray(list(discard), np.int64)
        if len(add):
            new = np.union1d(new, add)
        if len(discard) and len(new):
            new = np.setdiff1d(new, discard, assume_unique=True)
        if len(new) == len(have) and np.array_equal(new, have):
            return
        if not len(new):
            _unlink(self.dir / PENDING)
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".pending.{os.getpid()}.{threading.get_ident()}.npy"
        np.save(tmp, new)
        os.replace(tmp, self.dir / PENDING)

    def mark_incomplete(self, reason: str) -> None:
        """A change went by without its vector: searches ignore these vectors until a
        rebuild (``flask forum reindex``) writes them all again."""
        if self.dir.is_dir():
            (self.dir / "INCOMPLETE").write_text(reason)

    def _compact(self, delta: dict[str, np.ndarray]) -> None:
        vecs, ids, fps, _old = self._arrays()
        keep = ~np.isin(ids, delta["ids"])
        live = delta["fps"] != 0
        self._publish_base(
            np.concatenate([ids[keep], delta["ids"][live]]),
            np.concatenate([np.asarray(vecs[keep]), delta["vecs"][live]]),
            np.concatenate([fps[keep], delta["fps"][live]]),
        )
        _unlink(self.dir / "delta.npz")

    def _write_meta(self, model: str, dim: int) -> None:
        tmp = self.dir / f".META.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps({"model": model, "dim": dim}))
        os.replace(tmp, self.dir / "META.json")

    def _publish_base(self, ids: np.ndarray, vecs: np.ndarray, fps: np.ndarray) -> None:
        old = self._base_name()
        name = f"base-{time.time_ns()}-{os.getpid()}"
        folder = self.dir / name
        folder.mkdir()
        np.save(folder / "vectors.npy", vecs)
        np.save(folder / "ids.npy", ids)
        np.save(folder / "fps.npy", fps)
        center, proj = _center(vecs), projection(vecs.shape[1])
        np.save(folder / "center.npy", center)
        np.save(folder / "projection.npy", proj)
        np.save(folder / "bits.npy", sign_bits(vecs, proj, center))
        codes = int8_rows(vecs)
        np.save(folder / "codes.npy", codes.codes)
        np.save(folder / "scales.npy", codes.scales)
        np.save(folder / "residuals.npy", codes.residuals)
        tmp = self.dir / f".BASE.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(name)
        os.replace(tmp, self.dir / "BASE")
        if old:  # readers keep their memory map of the old files open
            shutil.rmtree(self.dir / old, ignore_errors=True)


def _atomic_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
