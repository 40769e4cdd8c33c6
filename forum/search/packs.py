"""Postings packs: a segment's long posting lists as flat arrays in one file beside it.

Decoding a common word's postings from whoosh's blocks (zlib, then a pickle per block of
128) costs milliseconds per list at 300,000 threads, and a per-process cache of decoded
arrays either holds the whole vocabulary's long lists (hundreds of MB in every worker) or
decodes again. A pack holds each long list once, decoded, in the index directory:
``<index>_<segment id>.fpk`` beside the segment's own files, memory-mapped read-only by
every process, so the operating system's page cache shares one copy between workers and
a fresh worker reads a list with one page-in instead of a decode.

Format: ``MAGIC``, the arrays (each 8-byte aligned), the header (JSON: the segment's
document count and, per field and term, where its arrays start), the header's length
(8 bytes, little-endian) and ``MAGIC`` again, so a pack cut short is never read. Arrays:
document numbers (int32, ascending) and, unless every weight is 1, the weights (uint8 or
uint16 when they are small whole numbers, else float32 - the float32 whoosh's decoding
gives, so scores are unchanged). For fields that keep positions (``title``, ``content``:
the ones a phrase can ask for), a list also has its positions: where each posting's
positions start in one flat array (uint32, one more than the postings) and the positions
themselves (uint16 when they all fit, else uint32), so a phrase reads the positions of
its candidates straight from the map instead of unpickling whoosh's blocks (header
``"pos": 1``; a pack written before positions were packed lacks it and ``pack-index``
writes it again).

A pack is derived data: written when a rebuild writes a segment (``write``), replaced
atomically, ignored when it is missing, unreadable or made for another segment (the
caller decodes from whoosh then), and deleted with its segment (its name matches the
segment file pattern whoosh and ``index.retire_files`` clean up by). Lists shorter than
``MIN_POSTINGS`` are left out: they decode in microseconds.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from whoosh.fields import NUMERIC

from .blocks import decode_positions

MAGIC = b"FPK1\x00\x00\x00\x00"
EXT = "fpk"
MIN_POSTINGS = 128
SKIP_FIELDS = ("id", "spell_content")  # read one at a time or as a word list only
_WEIGHT_TYPES = {"u1": np.uint8, "u2": np.uint16, "f4": np.float32}
_POSITION_TYPES = {"u2": np.uint16, "u4": np.uint32}
_OPEN_MAX = 64  # open packs kept per process (segments of current generations)

enabled = True  # SEARCH_PACKS: read postings from packs where a segment has one
release_after_search = True  # SEARCH_PACK_RELEASE: drop read pages from RSS after a search
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def pack_path(folder: str | os.PathLike, segment_id: str) -> Path:
    """``segment_id`` is whoosh's ``<index>_<id>``, so the name matches its segment's."""
    return Path(folder) / f"{segment_id}.{EXT}"


class Pack:
    """A pack opened read-only: ``postings(field, term)`` -> (ids, weights) views."""

    def __init__(self, path: Path, doc_count: int):
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        end = len(self._map)
        if end < 2 * len(MAGIC) + 8 or self._map[: len(MAGIC)] != MAGIC:
            raise ValueError("not a postings pack")
        if self._map[end - len(MAGIC) :] != MAGIC:
            raise ValueError("a pack cut short")
        size = int.from_bytes(self._map[end - len(MAGIC) - 8 : end - len(MAGIC)], "little")
        start = end - len(MAGIC) - 8 - size
        header = json.loads(self._map[start : start + size].decode("utf-8"))
        if header.get("n") != doc_count:
            raise ValueError("a pack of another segment")
        self.terms: dict[str, dict[str, list]] = header["terms"]
        self.has_positions = header.get("pos") == 1
        self.nbytes = end

    def postings(self, fieldname: str, tbytes: bytes):
        """(ids, weights or None) of a packed term, or None when the pack lacks it."""
        entry = self.terms.get(fieldname, {}).get(tbytes.decode("latin-1"))
        if entry is None:
            return None
        offset, count, w_offset, w_type = entry[:4]
        ids = np.frombuffer(self._map, dtype=np.int32, count=count, offset=offset)
        if w_type is None:
            return ids, None
        dtype = _WEIGHT_TYPES[w_type]
        return ids, np.frombuffer(self._map, dtype=dtype, count=count, offset=w_offset)

    def release(self) -> None:
        """Drop the pages read so far from this process's resident set (they stay in
        the operating system's page cache, shared, and come back on the next read)."""
        if _DONTNEED is not None:
            try:
                self._map.madvise(_DONTNEED)
            except (OSError, ValueError):  # closed meanwhile, or not supported
                pass

    def positions(self, fieldname: str, tbytes: bytes, at: np.ndarray):
        """Positions of the postings at indexes ``at`` of a packed term as two flat
        arrays (which of ``at`` each position belongs to, the position), or None when
        the pack has no positions for it. Only the pages of those postings are read."""
        entry = self.terms.get(fieldname, {}).get(tbytes.decode("latin-1"))
        if entry is None or len(entry) < 7:
            return None
        _offset, count, _w, _wt, s_offset, p_offset, p_type = entry
        starts = np.frombuffer(self._map, dtype=np.uint32, count=count + 1, offset=s_offset)
        begin = starts[at].astype(np.int64)
        lens = starts[at + 1].astype(np.int64) - begin
        owner = np.repeat(np.arange(len(at), dtype=np.int64), lens)
        total = int(lens.sum())
        first = np.zeros(len(at), dtype=np.int64)
        np.cumsum(lens[:-1], out=first[1:])
        flat = np.arange(total, dtype=np.int64) + np.repeat(begin - first, lens)
        size = int(starts[-1])
        dtype = _POSITION_TYPES[p_type]
        allpos = np.frombuffer(self._map, dtype=dtype, count=size, offset=p_offset)
        return owner, allpos[flat].astype(np.int64)


_open: OrderedDict[tuple, tuple[Pack | None, float]] = OrderedDict()
_lock = threading.Lock()
RETRY_SECONDS = 30.0  # a segment without a pack is looked at again after this long


def open_pack(key: tuple, path: Path, doc_count: int) -> Pack | None:
    """The pack at ``path`` for the segment ``key`` (kept open per process), or None
    when there is none (looked for again after ``RETRY_SECONDS``: ``pack-index`` may
    write it) or it does not fit the segment."""
    now = time.monotonic()
    with _lock:
        found = _open.get(key)
        if found is not None and (found[0] is not None or now - found[1] < RETRY_SECONDS):
            _open.move_to_end(key)
            return found[0]
    try:
        pack: Pack | None = Pack(path, doc_count)
    except (OSError, ValueError, KeyError, TypeError):
        pack = None
    with _lock:
        _open[key] = (pack, now)
        while len(_open) > _OPEN_MAX:
            _open.popitem(last=False)
    return pack


def release() -> None:
    """After a search: every open pack drops the pages it read from this process's
    resident memory, so a worker's resident size stays bounded by one search's reads
    instead of growing towards the packs' size (``SEARCH_PACK_RELEASE``)."""
    if not release_after_search:
        return
    with _lock:
        opened = [pack for pack, _t in _open.values() if pack is not None]
    for pack in opened:
        pack.release()


def up_to_date(path: Path, doc_count: int) -> bool:
    """Whether ``path`` is a readable pack of a segment of ``doc_count`` documents in
    this format (with positions): ``pack-index`` writes the others again."""
    try:
        return Pack(path, doc_count).has_positions
    except (OSError, ValueError, KeyError, TypeError):
        return False


def forget() -> None:
    """Close every pack this process holds open (tests; a pack rewritten in place)."""
    with _lock:
        _open.clear()


def _weights(weights: np.ndarray | None):
    """(array to store, type code) for a list's weights; (None, None) when all are 1."""
    if weights is None or bool(np.all(weights == 1.0)):
        return None, None
    whole = bool(np.all(weights == np.floor(weights))) and float(weights.min()) >= 0
    if whole and float(weights.max()) < 256:
        return weights.astype(np.uint8), "u1"
    if whole and float(weights.max()) < 65536:
        return weights.astype(np.uint16), "u2"
    return weights.astype(np.float32), "f4"


def write(path: Path, doc_count: int, lists) -> int:
    """Write a pack of ``lists`` ((field, term bytes, ids, weights or None, positions or
    None), each list written as it comes) for a segment of ``doc_count`` documents,
    atomically; positions are (positions per posting, every position in posting order).
    Returns the number of lists packed."""
    terms: dict[str, dict[str, list]] = {}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC)
            offset = len(MAGIC)
            for fieldname, tbytes, ids, weights, positions in lists:
                ids = np.ascontiguousarray(ids, dtype="<i4")
                stored, w_type = _weights(weights)
                entry = [offset, len(ids), None, w_type]
                offset += _put(fh, ids)
                if stored is not None:
                    entry[2] = offset
                    offset += _put(fh, stored)
                if positions is not None and len(positions[1]) < 2**32:
                    per_posting, flat = positions
                    starts = np.zeros(len(ids) + 1, dtype="<u4")
                    np.cumsum(per_posting, out=starts[1:])
                    big = len(flat) and int(flat.max()) >= 65536
                    p_type = "u4" if big else "u2"
                    entry += [offset, 0, p_type]
                    offset += _put(fh, starts)
                    entry[5] = offset
                    offset += _put(fh, np.ascontiguousarray(flat, dtype="<" + p_type))
                terms.setdefault(fieldname, {})[tbytes.decode("latin-1")] = entry
            header = {"n": doc_count, "pos": 1, "terms": terms}
            header = json.dumps(header, separators=(",", ":"))
            raw = header.encode("utf-8")
            fh.write(raw + len(raw).to_bytes(8, "little") + MAGIC)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return sum(len(v) for v in terms.values())


def _put(fh, array: np.ndarray) -> int:
    """Write ``array`` padded to 8 bytes; the bytes taken."""
    data = array.tobytes()
    pad = _aligned(len(data)) - len(data)
    fh.write(data + bytes(pad))
    return len(data) + pad


def _aligned(n: int) -> int:
    return (n + 7) // 8 * 8


def pool_lists(schema, terms: dict) -> Iterator[tuple]:
    """The lists ``write`` takes for a segment just written from ``terms`` (a fast
    builder's pool: (field, term bytes) -> (document numbers, weights, value bytes or
    None, value ends)), made from those arrays instead of decoded back from the
    segment's blocks (``segment.Segment.write_pack``): the same lists in the same order
    (terms sorted, as the segment lists them), the weights as whoosh stores them
    (float32), positions from the same values."""
    for key in sorted(terms):
        fieldname, tbytes = key
        if fieldname in SKIP_FIELDS or fieldname not in schema:
            continue
        field = schema[fieldname]
        docs, weights, buf, ends = terms[key]
        if isinstance(field, NUMERIC) or len(docs) < MIN_POSTINGS:
            continue
        w = np.asarray(weights, dtype=np.float64).astype(np.float32)
        positions = None
        if field.format and field.format.supports("positions") and buf is not None:
            end = np.asarray(ends, dtype=np.int64)
            begin = np.zeros(len(end), dtype=np.int64)
            begin[1:] = end[:-1]
            lens = end - begin
            if bool(np.all(lens > 0)):  # whoosh drops empty values: then none are read
                owner, pos = decode_positions(
                    bytes(buf), begin, lens, field.format.decode_positions
                )
                order = np.argsort(owner, kind="stable")
                positions = (np.bincount(owner, minlength=len(docs)), pos[order])
        yield fieldname, tbytes, np.asarray(docs, dtype=np.int32), w, positions
