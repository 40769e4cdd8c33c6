"""A vectorised evaluator for the forum's whoosh queries: same matches, same scores.

Whoosh scores every matching posting in pure Python through a tree of matcher
objects, so a broad query (synonym expansion ORs dozens of terms) costs time in
proportion to its matches, twice over: once to rank, once to count and facet. This
module evaluates the query trees that ``query.build`` and ``service`` produce (Term,
Or, And, AndMaybe, AndNot, ConstantScoreQuery, NullQuery, Phrase) with numpy arrays
instead, one segment (leaf reader) at a time:

- A term's postings in a segment are decoded once, block by block through whoosh's
  own codec (``whoosh.codec.whoosh3``: one zlib + unpickle per block of 128), into
  arrays of document numbers and weights. Per-document field lengths come from the
  segment's length column in one read, sort keys from the sortable columns likewise.
  Segments never change apart from deletions, so these arrays are kept in a
  byte-bounded LRU shared by the process (``CACHE_BYTES``) keyed by index directory
  and segment id; a merge or rebuild makes new segments and old keys just age out.
- Deletions are never cached: every search masks the segment's deleted set (as of
  the searcher's reader), and the meta document (id ``__meta__``) is never a result.
- Scores reproduce ``whoosh.scoring.BM25F`` exactly: idf and average field length
  from the whole searcher (``searcher.idf``, ``searcher.avg_field_length``), the
  byte-encoded field length of each document, term boosts; Or sums the children that
  match, And sums all, AndMaybe adds the optional part where it matches, AndNot keeps
  the positive side's score, ConstantScoreQuery gives its constant, a compound's
  boost multiplies (except on a single child, which whoosh passes through), and a
  field that is not scorable scores its weight. A test compares ids and scores with
  ``searcher.search`` on a real index. (With ``limit=None``: whoosh's top-N collector
  swaps in cheaper matchers as its score threshold rises and, for And(...,
  ConstantScoreQuery) trees such as a filtered search, skipped documents that belong
  in the top N; the ranking here is the exhaustive one.)
- Long posting lists are read without unpickling their values (``parse_blocks``);
  misspelled words find candidates in cached per-segment word tables
  (``terms_within``).
- Phrases: candidates are the documents that have every word (an intersection of
  arrays); positions are decoded for those candidates only, and the documents whose
  words sit at consecutive positions (whoosh's ``SpanNear2`` with slop 1) are cached
  per segment, so a repeated phrase costs an array lookup.
- The total is the exact number of matching visible documents, and facet counts come
  from the keyword fields' postings: one ``bincount`` over the matches per segment.

Anything else (another query type, another weighting model or codec) raises
``Unsupported`` before any work, and the caller falls back to whoosh itself.
"""

from __future__ import annotations

import struct
import threading
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.compat import loads  # whoosh's own pickle reader, for its own blocks
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.scoring import BM25F
from whoosh.support.levenshtein import damerau_levenshtein
from whoosh.util.numeric import byte_to_length

from .schema import META_ID

CACHE_BYTES = 64 * 1024 * 1024
_LENGTHS = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)
_EMPTY_IDS = np.zeros(0, dtype=np.int32)
_EMPTY_SCORES = np.zeros(0, dtype=np.float64)


class Unsupported(Exception):
    """The query or index uses something this evaluator does not reproduce."""


# -- the process-wide cache ----------------------------------------------------------


class ByteLRU:
    """A thread-safe LRU bounded by the bytes of the arrays it holds."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.used = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key, value, nbytes: int) -> None:
        nbytes += 200  # key and bookkeeping
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self._items[key] = (value, nbytes)
            self.used += nbytes
            while self.used > self.max_bytes and self._items:
                _key, (_value, size) = self._items.popitem(last=False)
                self.used -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._items)


cache = ByteLRU(CACHE_BYTES)


def configure(max_bytes: int) -> None:
    """Set the cache's byte budget (items beyond it are evicted as others arrive)."""
    cache.max_bytes = max(1, int(max_bytes))


# -- per-segment data ------------------------------------------------------------------

_POS_SPAN = 1 << 32  # phrase keys: candidate index * _POS_SPAN + start position (+ offset)
_OP_K, _OP_M, _OP_J = ord("K"), ord("M"), ord("J")
_PICKLE_HEAD = np.frombuffer(b"\x80\x02]q\x00", dtype=np.uint8)


def decode_positions(
    blob: bytes, begin: np.ndarray, lens: np.ndarray, slow
) -> tuple[np.ndarray, np.ndarray]:
    """Decode whoosh ``Positions`` values (a 4-byte count, then the pickled list of
    position deltas) for many postings at once: value ``i`` is ``blob[begin[i]:
    begin[i] + lens[i]]``. Returns (owner index, position) arrays.

    ``pickle.dumps(deltas, 2)`` writes PROTO 2, EMPTY_LIST, BINPUT 0, then one item and
    APPEND, or MARK, the items and APPENDS; an item is BININT1 (K, 1 byte), BININT2 (M,
    2 bytes) or BININT (J, 4 bytes). All values are parsed together, one item per
    step; a value in any other shape (over 1,000 items: pickle batches them) goes
    through ``slow`` (whoosh's own decoder).
    """
    count = len(begin)
    if not count:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    raw = np.frombuffer(blob, dtype=np.uint8)
    padded = np.concatenate([raw, np.zeros(8, np.uint8)]).astype(np.int64)
    ok = lens >= 11
    safe = np.where(ok, begin, 0)
    n = (padded[safe] << 24) | (padded[safe + 1] << 16) | (padded[safe + 2] << 8) | padded[safe + 3]
    for j, byte in enumerate(_PICKLE_HEAD.tolist()):
        ok &= padded[safe + 4 + j] == byte
    ok &= (n >= 1) & (n <= 1000) & ((n == 1) | (padded[safe + 9] == ord("(")))
    n = np.where(ok, n, 0)
    ptr = safe + 9 + (n > 1)
    out_start = np.zeros(count, dtype=np.int64)
    np.cumsum(n[:-1], out=out_start[1:])
    deltas = np.zeros(int(n.sum()), dtype=np.int64)
    active = np.flatnonzero(n)
    k = 0
    while len(active):
        p = ptr[active]
        op = padded[p]
        b1, b2, b3, b4 = padded[p + 1], padded[p + 2], padded[p + 3], padded[p + 4]
        val = np.where(
            op == _OP_K,
            b1,
            np.where(op == _OP_M, b1 | (b2 << 8), (b1 | (b2 << 8) | (b3 << 16) | (b4 << 24))),
        )
        bad = (op != _OP_K) & (op != _OP_M) & (op != _OP_J)
        if bad.any():  # an opcode we do not parse: leave these values to the slow path
            ok[active[bad]] = False
        deltas[out_start[active] + k] = val
        ptr[active] = p + np.where(op == _OP_K, 2, np.where(op == _OP_M, 3, 5))
        k += 1
        active = active[(n[active] > k) & ok[active]]
    owner = np.repeat(np.arange(count), n)
    # Positions are running sums of the deltas within each value.
    summed = np.cumsum(deltas)
    base = np.zeros(count, dtype=np.int64)
    has = n > 0
    base[has] = summed[out_start[has]] - deltas[out_start[has]]
    positions = summed - np.repeat(base, n)
    keep = ok[owner] if len(owner) else np.zeros(0, bool)
    owner, positions = owner[keep], positions[keep]
    slow_ones = np.flatnonzero(~ok).tolist()
    if slow_ones:
        extra_owner, extra_pos = [], []
        for i in slow_ones:
            found = slow(bytes(blob[begin[i] : begin[i] + lens[i]]))
            extra_owner.extend([i] * len(found))
            extra_pos.extend(found)
        owner = np.concatenate([owner, np.asarray(extra_owner, dtype=np.int64)])
        positions = np.concatenate([positions, np.asarray(extra_pos, dtype=np.int64)])
    return owner, positions


FAST_BLOCKS = 4  # parse_blocks reads lists of at least this many blocks with numpy
_OP_MARK, _OP_TUPLE, _OP_BINPUT = ord("("), ord("t"), ord("q")
_OP_NONE, _OP_FLOAT = ord("N"), ord("G")


def parse_blocks(raws: list[bytes], counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Delta-coded ids and weights of posting blocks, without unpickling their values.

    A whoosh3 block is ``pickle.dumps((ids, weights, values), 2)``. Unpickling it builds
    every posting's value (for text fields, one ``_codecs.encode`` call per posting),
    which is most of the cost of reading a common word. The ids and weights come first:
    PROTO 2, MARK, the first id (absolute) and one BININT1 per later delta, TUPLE,
    BINPUT; then NONE (all weights 1),
    one BINFLOAT (all the same) or MARK, a BINFLOAT per posting, TUPLE. Blocks of that
    shape are read with array arithmetic; any other block (a delta over 255, three
    postings or fewer) is unpickled as whoosh does.
    """
    count = len(raws)
    if count < FAST_BLOCKS:  # a short list: unpickling is cheaper than the array set-up
        deltas, weights = [], []
        for raw, size in zip(raws, counts, strict=True):
            ids, w, _values = loads(raw)
            deltas.extend(ids)
            weights.append(_block_weights(w, size))
        return np.asarray(deltas, dtype=np.int64), np.concatenate(weights)
    n = np.asarray(counts, dtype=np.int64)
    lens = np.fromiter(map(len, raws), dtype=np.int64, count=count)
    begin = np.zeros(count, dtype=np.int64)
    np.cumsum(lens[:-1], out=begin[1:])
    arr = np.frombuffer(b"".join(raws) + bytes(32), dtype=np.uint8)
    last = len(arr) - 10

    def at(idx):
        return arr[np.minimum(idx, last)]

    total = int(n.sum())
    out_start = np.zeros(count, dtype=np.int64)
    np.cumsum(n[:-1], out=out_start[1:])
    owner = np.repeat(np.arange(count), n)
    k = np.arange(total, dtype=np.int64) - out_start[owner]
    ok = (n > 3) & (lens >= 8) & (at(begin) == 0x80) & (at(begin + 1) == 2)
    ok &= at(begin + 2) == _OP_MARK
    # A block's first id is absolute (BININT1, BININT2 or BININT); the rest are small
    # deltas, one BININT1 each.
    first_op = at(begin + 3)
    b1, b2, b3, b4 = (at(begin + 4 + j).astype(np.int64) for j in range(4))
    first = np.where(
        first_op == _OP_K,
        b1,
        np.where(first_op == _OP_M, b1 | (b2 << 8), b1 | (b2 << 8) | (b3 << 16) | (b4 << 24)),
    )
    first_size = np.where(first_op == _OP_K, 2, np.where(first_op == _OP_M, 3, 5))
    ok &= (first_op == _OP_K) | (first_op == _OP_M) | ((first_op == _OP_J) & (b4 < 128))
    op_at = begin[owner] + 3 + first_size[owner] + 2 * (k - 1)
    rest = k > 0
    not_k = rest & (at(op_at) != _OP_K)
    ok &= np.bincount(owner[not_k], minlength=count) == 0
    after = begin + 3 + first_size + 2 * (n - 1)  # TUPLE, BINPUT, memo, then weights
    ok &= (at(after) == _OP_TUPLE) & (at(after + 1) == _OP_BINPUT)
    deltas = np.where(rest, at(op_at + 1), first[owner]).astype(np.int64)
    weights = np.ones(total, dtype=np.float32)
    w_op = at(after + 3)

    def doubles(idx):  # big-endian 8-byte floats starting at idx
        grid = np.minimum(idx[:, None] + np.arange(8), last)
        return arr[grid].copy().view(">f8").ravel()

    one = ok & (w_op == _OP_FLOAT)
    if one.any():
        weights[np.isin(owner, np.flatnonzero(one))] = np.repeat(
            doubles(after[one] + 4).astype(np.float32), n[one]
        )
    many = ok & (w_op == _OP_MARK)
    if many.any():
        rows = np.isin(owner, np.flatnonzero(many))
        g_at = after[owner[rows]] + 4 + 9 * k[rows]
        bad = at(g_at) != _OP_FLOAT
        many &= np.bincount(owner[rows][bad], minlength=count) == 0
        many &= at(after + 4 + 9 * n) == _OP_TUPLE
        weights[rows] = doubles(g_at + 1).astype(np.float32)
    ok &= one | many | (w_op == _OP_NONE)
    for b in np.flatnonzero(~ok).tolist():  # any other shape: as whoosh reads it
        ids, w, _values = loads(raws[b])
        lo, hi = int(out_start[b]), int(out_start[b] + n[b])
        deltas[lo:hi] = np.asarray(ids, dtype=np.int64)
        weights[lo:hi] = _block_weights(w, hi - lo)
    return deltas, weights


def _block_weights(w, size: int) -> np.ndarray:
    """A block's weights as whoosh stores them: None (all 1), one float, or a tuple."""
    if w is None:
        return np.ones(size, dtype=np.float32)
    if isinstance(w, float):
        return np.full(size, w, dtype=np.float32)
    return np.asarray(w, dtype=np.float32)


@dataclass
class Postings:
    ids: np.ndarray  # int32 document numbers in the segment, ascending
    weights: np.ndarray | None  # float32, None when every weight is 1.0

    @property
    def nbytes(self) -> int:
        w = self.weights.nbytes if self.weights is not None else 0
        return self.ids.nbytes + w


_NO_POSTINGS = Postings(_EMPTY_IDS, None)


@dataclass
class Values:
    """A term's posting values (encoded positions) in one blob, posting by posting."""

    blob: bytes
    begin: np.ndarray  # int64 offset of each posting's value
    lens: np.ndarray  # int64 length of each posting's value

    @property
    def nbytes(self) -> int:
        return len(self.blob) + self.begin.nbytes + self.lens.nbytes


class Segment:
    """One leaf reader of a searcher, with its cache key and the per-search masks."""

    def __init__(self, reader: SegmentReader, offset: int):
        self.reader = reader
        self.offset = offset
        self.n = reader.doc_count_all()
        storage = reader.storage()
        folder = getattr(storage, "folder", None)
        if not folder:  # a storage without a folder (in memory): a token of its own
            folder = getattr(storage, "_forum_cache_token", None)
            if folder is None:
                folder = storage._forum_cache_token = f"mem-{uuid.uuid4().hex}"
        self.key = (folder, reader.segment().segment_id(), self.n)

    # Postings of one term -----------------------------------------------------------

    def postings(self, fieldname: str, tbytes: bytes) -> Postings:
        key = ("p", self.key, fieldname, tbytes)
        found = cache.get(key)
        if found is None:
            found = self._decode(fieldname, tbytes)
            cache.put(key, found, found.nbytes)
        return found

    def _raw_matcher(self, fieldname: str, tbytes: bytes):
        try:
            m = self.reader.postings(fieldname, tbytes)
        except (TermNotFound, KeyError):
            return None
        if isinstance(m, FilterMatcher):  # deletions: we mask them per search instead
            m = m.child
            m.reset()  # the filter already stepped past leading deleted documents
        return m

    def postings_and_values(self, fieldname: str, tbytes: bytes):
        """(Postings, Values or None) of a term, decoding its blocks at most once."""
        vkey = ("v", self.key, fieldname, tbytes)
        values = cache.get(vkey)
        if values is not None:
            return self.postings(fieldname, tbytes), values
        post, values = self._decode(fieldname, tbytes, with_values=True)
        if cache.get(("p", self.key, fieldname, tbytes)) is None:
            cache.put(("p", self.key, fieldname, tbytes), post, post.nbytes)
        if values is not None:
            cache.put(vkey, values, values.nbytes)
        return post, values

    def _decode(self, fieldname: str, tbytes: bytes, with_values: bool = False):
        """A term's postings (and, ``with_values``, their values) from its blocks."""
        if (fieldname, tbytes) not in self.reader:
            return (_NO_POSTINGS, None) if with_values else _NO_POSTINGS
        m = self._raw_matcher(fieldname, tbytes)
        if m is None:
            return (_NO_POSTINGS, None) if with_values else _NO_POSTINGS
        if type(m) is not W3LeafMatcher:
            found = self._decode_slowly(m)
            return (found, None) if with_values else found
        all_values: list[bytes] | None = [] if with_values else None
        deltas: list[int] = []
        weights: list[np.ndarray] = []
        sizes: list[int] = []
        raws: list[bytes] = []
        pos = m._baseoffset
        while True:
            m._goto(pos)
            count = m._blocklength
            sizes.append(count)
            if not with_values:  # ids and weights only: parsed from the raw block below
                raw = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
                raws.append(zlib.decompress(raw) if m._compression else raw)
            else:
                m._read_data()
                ids, w, block_values = m._data
                deltas.extend(ids)
                if all_values is not None:
                    if isinstance(block_values, tuple) and len(block_values) == count:
                        all_values.extend(block_values)
                    else:  # values of another shape: positions come the slow way
                        all_values = None
                weights.append(_block_weights(w, count))
            if m._lastblock:
                break
            pos = m._nextoffset
        if not with_values:
            delta_arr, weight_arr = parse_blocks(raws, sizes)
        else:
            delta_arr, weight_arr = np.asarray(deltas, dtype=np.int64), np.concatenate(weights)
        all_ones = bool(np.all(weight_arr == 1.0))
        sizes_arr = np.asarray(sizes, dtype=np.int64)
        starts = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes_arr[:-1], out=starts[1:])
        summed = np.cumsum(delta_arr)
        # Each block's ids are delta-coded from 0: subtract the running sum before it.
        base = np.zeros(len(sizes), dtype=np.int64)
        base[1:] = summed[starts[1:] - 1]
        doc_ids = (summed - np.repeat(base, sizes_arr)).astype(np.int32)
        post = Postings(doc_ids, None if all_ones else weight_arr)
        if not with_values:
            return post
        if all_values is None:
            return post, None
        lens = np.fromiter(map(len, all_values), dtype=np.int64, count=len(all_values))
        begin = np.zeros(len(lens), dtype=np.int64)
        np.cumsum(lens[:-1], out=begin[1:])
        return post, Values(b"".join(all_values), begin, lens)

    @staticmethod
    def _decode_slowly(m) -> Postings:
        """Any other matcher (inlined postings): step through it."""
        ids, weights = [], []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            m.next()
        w = np.asarray(weights, dtype=np.float32)
        return Postings(np.asarray(ids, dtype=np.int32), None if bool(np.all(w == 1.0)) else w)

    def positions(self, fieldname: str, tbytes: bytes, at: np.ndarray):
        """Positions of the postings at indexes ``at`` of a term, as two flat arrays:
        which of ``at`` each position belongs to, and the position."""
        fmt = self.reader.schema[fieldname].format
        post, values = self.postings_and_values(fieldname, tbytes)
        if values is not None:
            return decode_positions(
                values.blob, values.begin[at], values.lens[at], fmt.decode_positions
            )
        # Inlined or unusual postings: step through and pick the wanted ones.
        m = self._raw_matcher(fieldname, tbytes)
        wanted = set(post.ids[at].tolist())
        by_id = {}
        while m is not None and m.is_active():
            if m.id() in wanted:
                by_id[m.id()] = fmt.decode_positions(m.value())
            m.next()
        lists = [by_id[i] for i in post.ids[at].tolist()]
        owner = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
        return owner, np.asarray([p for x in lists for p in x], dtype=np.int64)

    # Columns -------------------------------------------------------------------------

    def lengths(self, fieldname: str) -> np.ndarray:
        """Field length of every document as whoosh scores it (byte-encoded, decoded)."""
        key = ("l", self.key, fieldname)
        found = cache.get(key)
        if found is None:
            perdoc = self.reader._perdoc
            lenfield = f"_{fieldname}_len"
            raw = np.zeros(self.n, dtype=np.uint8)
            if perdoc.has_column(lenfield):
                col = perdoc.column_reader(lenfield, LENGTHS_COLUMN)
                count = min(col._count, self.n)
                raw[:count] = np.frombuffer(col._dbfile.get(col._basepos, count), np.uint8)
            found = raw
            cache.put(key, found, found.nbytes)
        return found

    def sort_keys(self, fieldname: str) -> np.ndarray:
        """A sortable numeric column of every document, in the column's own type."""
        key = ("c", self.key, fieldname)
        found = cache.get(key)
        if found is None:
            found = self._read_column(fieldname)
            cache.put(key, found, found.nbytes)
        return found

    def _read_column(self, fieldname: str) -> np.ndarray:
        fieldobj = self.reader.schema[fieldname]
        column = fieldobj.column_type
        if column is None:
            raise Unsupported(f"no column for {fieldname}")
        creader = self.reader.column_reader(fieldname, translate=False)
        typecode = getattr(creader, "_typecode", None)
        if typecode is None:  # no column file in this segment: every value is default
            typecode = getattr(column, "_typecode", None)
            if typecode is None:
                raise Unsupported(f"column of {fieldname} is not numeric")
            return np.full(self.n, column._default, dtype=np.dtype(typecode))
        dtype = np.dtype(">" + typecode)
        count = min(creader._count, self.n)
        out = np.full(self.n, creader._default, dtype=dtype.newbyteorder("="))
        if count:
            raw = creader._dbfile.get(creader._basepos, count * dtype.itemsize)
            out[:count] = np.frombuffer(raw, dtype=dtype)
        return out

    # Masks ---------------------------------------------------------------------------

    def hidden(self) -> np.ndarray | None:
        """True for documents that are never results: deleted (as this reader sees
        them, so never cached across readers) and the meta document."""
        mask = getattr(self.reader, "_forum_hidden", None)
        if mask is None:
            mask = np.zeros(self.n, dtype=bool)
            if self.reader.has_deletions():
                deleted = self.reader.deleted_docs_set
                if deleted:
                    mask[np.fromiter(deleted, dtype=np.int64, count=len(deleted))] = True
            meta = self.postings("id", META_ID.encode())
            mask[meta.ids] = True
            self.reader._forum_hidden = mask
        return mask

    # Facets --------------------------------------------------------------------------

    def facet_table(self, fields: tuple[str, ...]):
        """(doc ids, value codes, [(field, value)]) over every posting of the fields."""
        key = ("f", self.key, fields)
        found = cache.get(key)
        if found is None:
            ids, codes, labels = [], [], []
            for fieldname in fields:
                if fieldname not in self.reader.schema:
                    continue
                for tbytes in self.reader.lexicon(fieldname):
                    post = self._decode(fieldname, tbytes)
                    if not len(post.ids):
                        continue
                    ids.append(post.ids)
                    codes.append(np.full(len(post.ids), len(labels), dtype=np.int32))
                    labels.append((fieldname, tbytes.decode("utf-8", "replace")))
            found = (
                np.concatenate(ids) if ids else _EMPTY_IDS,
                np.concatenate(codes) if codes else _EMPTY_IDS,
                labels,
            )
            cache.put(key, found, found[0].nbytes + found[1].nbytes + 100 * len(labels))
        return found


# -- match sets ------------------------------------------------------------------------
#
# A match set in one segment is either Sparse (ascending ids and their scores) or Dense
# (a boolean mask over the segment and scores, zero where the mask is False).


@dataclass
class Sparse:
    ids: np.ndarray
    scores: np.ndarray


@dataclass
class Dense:
    mask: np.ndarray
    scores: np.ndarray


_NONE = Sparse(_EMPTY_IDS, _EMPTY_SCORES)


def _size(m) -> int:
    return len(m.ids) if isinstance(m, Sparse) else int(np.count_nonzero(m.mask))


def _dense(m, n: int) -> Dense:
    if isinstance(m, Dense):
        return m
    mask = np.zeros(n, dtype=bool)
    mask[m.ids] = True
    scores = np.zeros(n, dtype=np.float64)
    scores[m.ids] = m.scores
    return Dense(mask, scores)


def _lookup(m, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each id: is it in ``m``, and its score there (0 when not)."""
    if isinstance(m, Dense):
        return m.mask[ids], m.scores[ids]
    if not len(m.ids):
        return np.zeros(len(ids), dtype=bool), np.zeros(len(ids))
    idx = np.searchsorted(m.ids, ids)
    idx[idx >= len(m.ids)] = len(m.ids) - 1
    present = m.ids[idx] == ids
    return present, np.where(present, m.scores[idx], 0.0)


def _scale(m, boost: float):
    if boost == 1.0:
        return m
    if isinstance(m, Sparse):
        return Sparse(m.ids, m.scores * boost)
    return Dense(m.mask, m.scores * boost)


# -- evaluation ------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, searcher):
        weighting = searcher.weighting
        if type(weighting) is not BM25F or weighting.use_final:
            raise Unsupported(f"weighting {type(weighting).__name__}")
        self.searcher = searcher
        self.schema = searcher.schema
        self.weighting = weighting
        self._term_stats: dict[tuple[str, bytes], tuple] = {}

    # Checking before any work -------------------------------------------------------

    def check(self, q) -> None:
        t = type(q)
        if q is wq.NullQuery:
            return
        if t is wq.Term:
            if q.minquality:
                raise Unsupported("Term with minquality")
            return
        if t in (wq.Or, wq.And):
            if t is wq.Or and q.scale:
                raise Unsupported("Or with a coordination scale")
            for sub in q.subqueries:
                self.check(sub)
            return
        if t in (wq.AndMaybe, wq.AndNot):
            self.check(q.a)
            self.check(q.b)
            return
        if t is wq.ConstantScoreQuery:
            self.check(q.child)
            return
        if t is wq.Phrase:
            if q.slop != 1 or not q.words or q.fieldname not in self.schema:
                raise Unsupported("Phrase with slop or without words")
            fmt = self.schema[q.fieldname].format
            if not fmt or not fmt.supports("positions"):
                raise Unsupported("Phrase on a field without positions")
            return
        raise Unsupported(t.__name__)

    # Terms ---------------------------------------------------------------------------

    def _stats(self, fieldname: str, tbytes: bytes):
        key = (fieldname, tbytes)
        found = self._term_stats.get(key)
        if found is None:
            fieldobj = self.schema[fieldname]
            if not fieldobj.scorable:
                found = (False, 0.0, 0.0, 0.0)
            else:
                s = self.searcher
                idf = s.idf(fieldname, tbytes)
                avgfl = s.avg_field_length(fieldname) or 1
                b = self.weighting._field_B.get(fieldname, self.weighting.B)
                found = (True, idf, avgfl, b)
            self._term_stats[key] = found
        return found

    def term_bytes(self, fieldname: str, text) -> bytes | None:
        if fieldname not in self.schema:
            return None
        try:
            return self.schema[fieldname].to_bytes(text)
        except ValueError:
            return None

    def term_scores(self, seg: Segment, fieldname: str, tbytes: bytes, post: Postings):
        """BM25F of each posting, with the same float operations as whoosh.scoring."""
        scorable, idf, avgfl, b = self._stats(fieldname, tbytes)
        if post.weights is None:
            tf = np.ones(len(post.ids), dtype=np.float64)
        else:
            tf = post.weights.astype(np.float64)
        if not scorable:
            return tf
        k1 = self.weighting.K1
        fl = _LENGTHS[seg.lengths(fieldname)[post.ids]]
        return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * fl / avgfl)))

    def term(self, seg: Segment, q: wq.Term):
        tbytes = self.term_bytes(q.fieldname, q.text)
        if tbytes is None:
            return _NONE
        post = seg.postings(q.fieldname, tbytes)
        if not len(post.ids):
            return _NONE
        scores = self.term_scores(seg, q.fieldname, tbytes, post)
        if q.boost != 1.0:
            scores = scores * q.boost
        return Sparse(post.ids, scores)

    # Compounds -----------------------------------------------------------------------

    def eval(self, seg: Segment, q):
        t = type(q)
        if q is wq.NullQuery:
            return _NONE
        if t is wq.Term:
            return self.term(seg, q)
        if t is wq.Or or t is wq.And:
            subs = q.subqueries
            if not subs:
                return _NONE
            if len(subs) == 1:  # whoosh uses the child's matcher as it is (no boost)
                return self.eval(seg, subs[0])
            if t is wq.Or:
                result = self._or(seg, [self.eval(seg, s) for s in subs])
            else:
                result = self._and(seg, subs)
            return _scale(result, q.boost)
        if t is wq.AndMaybe:
            return self._and_maybe(seg, self.eval(seg, q.a), q.b)
        if t is wq.AndNot:
            a = self.eval(seg, q.a)
            if not _size(a):
                return _NONE
            return self._and_not(seg, a, self.eval(seg, q.b))
        if t is wq.ConstantScoreQuery:
            child = self.eval(seg, q.child)
            if isinstance(child, Sparse):
                return Sparse(child.ids, np.full(len(child.ids), float(q.score)))
            return Dense(child.mask, np.where(child.mask, float(q.score), 0.0))
        if t is wq.Phrase:
            return self.phrase(seg, q)
        raise Unsupported(t.__name__)  # pragma: no cover - check() ran first

    def _or(self, seg: Segment, parts):
        parts = [p for p in parts if _size(p)]
        if not parts:
            return _NONE
        if len(parts) == 1:
            return parts[0]
        mask = np.zeros(seg.n, dtype=bool)
        scores = np.zeros(seg.n, dtype=np.float64)
        for p in parts:
            if isinstance(p, Sparse):
                scores[p.ids] += p.scores  # ids are unique within a part
                mask[p.ids] = True
            else:
                scores += p.scores
                mask |= p.mask
        return Dense(mask, scores)

    def _and(self, seg: Segment, subs):
        parts = []
        for s in subs:
            part = self.eval(seg, s)
            if not _size(part):
                return _NONE
            parts.append(part)
        sparse = [p for p in parts if isinstance(p, Sparse)]
        if not sparse:
            mask = parts[0].mask.copy()
            scores = parts[0].scores.copy()
            for p in parts[1:]:
                mask &= p.mask
                scores += p.scores
            scores[~mask] = 0.0
            return Dense(mask, scores)
        driver = min(sparse, key=lambda p: len(p.ids))
        ids, scores = driver.ids, driver.scores
        for p in parts:
            if p is driver:
                continue
            present, more = _lookup(p, ids)
            ids, scores = ids[present], scores[present] + more[present]
        return Sparse(ids, scores)

    def _and_maybe(self, seg: Segment, a, b_query):
        if not _size(a):
            return _NONE
        b = self.eval(seg, b_query)
        if not _size(b):
            return a
        if isinstance(a, Sparse):
            _present, more = _lookup(b, a.ids)
            return Sparse(a.ids, a.scores + more)
        b = _dense(b, seg.n)
        return Dense(a.mask, a.scores + np.where(a.mask, b.scores, 0.0))

    def _and_not(self, seg: Segment, a, b):
        if not _size(b):
            return a
        if isinstance(a, Sparse):
            present, _more = _lookup(b, a.ids)
            keep = ~present
            return Sparse(a.ids[keep], a.scores[keep])
        b = _dense(b, seg.n)
        mask = a.mask & ~b.mask
        return Dense(mask, np.where(mask, a.scores, 0.0))

    # Phrases -------------------------------------------------------------------------

    def phrase(self, seg: Segment, q: wq.Phrase):
        fieldname = q.fieldname
        words = []
        for word in q.words:
            tbytes = self.term_bytes(fieldname, word)
            if tbytes is None or (fieldname, tbytes) not in seg.reader:
                return _NONE
            words.append(tbytes)
        if len(words) > 1 and cache.get(("ph", seg.key, fieldname, tuple(words))) is None:
            posts = [seg.postings_and_values(fieldname, w)[0] for w in words]  # one pass
        else:
            posts = [seg.postings(fieldname, w) for w in words]
        matched = self._phrase_docs(seg, fieldname, words, posts)
        if not len(matched):
            return _NONE
        total = np.zeros(len(matched), dtype=np.float64)
        for w, post in zip(words, posts, strict=True):
            at = np.searchsorted(post.ids, matched)
            total += self.term_scores(seg, fieldname, w, post)[at]
        if q.boost != 1.0:
            total = total * q.boost
        return Sparse(matched, total)

    def _phrase_docs(self, seg: Segment, fieldname: str, words, posts) -> np.ndarray:
        """Documents (deleted ones included) with the words at consecutive positions:
        whoosh's SpanNear2(slop=1, ordered, mindist=1) chain, word k at p + k."""
        if len(words) == 1:
            return posts[0].ids
        key = ("ph", seg.key, fieldname, tuple(words))
        found = cache.get(key)
        if found is not None:
            return found
        cand = posts[0].ids
        for post in posts[1:]:
            cand = np.intersect1d(cand, post.ids, assume_unique=True)
            if not len(cand):
                break
        if len(cand):
            # (candidate, start position) pairs as one int64 key, narrowed word by word.
            starts = None
            for k, (w, post) in enumerate(zip(words, posts, strict=True)):
                owner, pos = seg.positions(fieldname, w, np.searchsorted(post.ids, cand))
                keys = np.unique(owner * _POS_SPAN + (pos - k))
                starts = keys if starts is None else np.intersect1d(starts, keys, True)
                if not len(starts):
                    break
            cand = cand[np.unique(starts // _POS_SPAN)].astype(np.int32)
        cache.put(key, cand, cand.nbytes + 64 * len(words))
        return cand


# -- running a search ------------------------------------------------------------------


@dataclass
class Outcome:
    total: int = 0
    hits: list[tuple[int, float]] = field(default_factory=list)  # (global docnum, score)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> value -> n


def segments(searcher) -> list[Segment]:
    reader = searcher.reader()
    if isinstance(reader, SegmentReader):
        leaves = [(reader, 0)]
    else:
        leaves = reader.leaf_readers()
    found = []
    for leaf, offset in leaves:
        if type(leaf) is not SegmentReader or leaf.is_closed:
            raise Unsupported(f"reader {type(leaf).__name__}")
        found.append(Segment(leaf, offset))
    return found


def check(searcher, q) -> None:
    """Raise Unsupported when ``run`` would not reproduce whoosh for this query."""
    _Evaluator(searcher).check(q)


def run(
    searcher,
    q,
    *,
    limit: int,
    start: int = 0,
    sortedby: str | None = None,
    facet_fields: tuple[str, ...] = (),
) -> Outcome:
    """Hits ``start:limit`` (global docnum, score), the exact total, and facet counts.

    Relevance order is score descending, then document number (as whoosh's top
    collector). With ``sortedby`` (a sortable numeric column) the order is that key
    descending, then score, then document number descending.
    """
    ev = _Evaluator(searcher)
    ev.check(q)
    out = Outcome(facets={f: {} for f in facet_fields})
    gids, scores, keys = [], [], []
    counts: dict[tuple[str, str], int] = {}
    for seg in segments(searcher):
        if not seg.n:
            continue
        m = ev.eval(seg, q)
        if isinstance(m, Dense):
            ids = np.flatnonzero(m.mask)
            s = m.scores[ids]
        else:
            ids, s = m.ids, m.scores
        if not len(ids):
            continue
        keep = ~seg.hidden()[ids]
        ids, s = ids[keep], s[keep]
        if not len(ids):
            continue
        out.total += len(ids)
        gids.append(ids.astype(np.int64) + seg.offset)
        scores.append(s)
        if sortedby:
            keys.append(seg.sort_keys(sortedby)[ids])
        if facet_fields:
            all_ids, codes, labels = seg.facet_table(tuple(facet_fields))
            if len(all_ids):
                matched = np.zeros(seg.n, dtype=bool)
                matched[ids] = True
                per_code = np.bincount(codes[matched[all_ids]], minlength=len(labels))
                for code in np.flatnonzero(per_code).tolist():
                    label = labels[code]
                    counts[label] = counts.get(label, 0) + int(per_code[code])
    for (fieldname, value), n in counts.items():
        out.facets[fieldname][value] = n
    if not gids or limit <= start:
        return out
    g = np.concatenate(gids)
    s = np.concatenate(scores)
    if sortedby:
        k = np.concatenate(keys)
        order = np.lexsort((g, s, k))[::-1][:limit]
    else:
        if len(g) > 2 * limit:
            # Keep everything scoring at least the limit-th best (ties included).
            threshold = np.partition(s, len(s) - limit)[len(s) - limit]
            near = np.flatnonzero(s >= threshold)
            g_near, s_near = g[near], s[near]
            order = near[np.lexsort((g_near, -s_near))[:limit]]
        else:
            order = np.lexsort((g, -s))[:limit]
    order = order[start:]
    out.hits = list(zip(g[order].tolist(), s[order].tolist(), strict=True))
    return out


# -- spelling candidates ---------------------------------------------------------------


def _letter_counts(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per word: letter histogram (a-z, then everything else), length, and whether the
    word is plain ASCII (the histogram bound holds per character, so a word with other
    characters is always checked exactly)."""
    blob = "".join(words).encode("utf-8", "surrogatepass")
    lengths = np.fromiter((len(w) for w in words), dtype=np.int32, count=len(words))
    nbytes = np.fromiter(
        (len(w.encode("utf-8", "surrogatepass")) for w in words), np.int32, count=len(words)
    )
    ascii_ = nbytes == lengths
    codes = np.frombuffer(blob, dtype=np.uint8).astype(np.int64)
    owner = np.repeat(np.arange(len(words)), nbytes)
    bucket = np.where((codes >= 97) & (codes <= 122), codes - 97, 26)
    hist = np.zeros((len(words), 27), dtype=np.int16)
    np.add.at(hist, (owner, bucket), 1)
    return hist, lengths, ascii_


def _histogram(word: str) -> np.ndarray:
    h = np.zeros(27, dtype=np.int16)
    for ch in word:
        o = ord(ch)
        h[o - 97 if 97 <= o <= 122 else 26] += 1
    return h


_RECORD = struct.Struct("!ii")  # whoosh.filedb.filetables: key length, value length


def _terms_with_prefix(reader, fieldname: str, prefix: bytes) -> list[bytes] | None:
    """A segment's terms of a field starting with ``prefix``, read in one piece.

    The terms file (``OrderedHashReader``) stores (key length, value length, key,
    value) records in key order, a key being the field number then the term, so the
    terms sharing a prefix are one run of records: two binary searches find it and
    one read fetches it. None when the reader is not laid out that way (the caller
    then walks whoosh's ``expand_prefix``).
    """
    terms = getattr(reader, "_terms", None)
    tindex = getattr(terms, "_tindex", None)
    if tindex is None or not hasattr(tindex, "closest_key_pos") or not prefix:
        return None
    keycoder = terms._keycoder
    start_key = keycoder(fieldname, prefix)
    end_key = (
        keycoder(fieldname, prefix[:-1] + bytes([prefix[-1] + 1])) if prefix[-1] < 255 else None
    )
    lo = tindex.closest_key_pos(start_key)
    if lo is None:
        return []
    hi = tindex.closest_key_pos(end_key) if end_key is not None else None
    if hi is None:
        hi = tindex.endofdata
    buf = tindex.dbfile.get(lo, hi - lo)
    field_head = start_key[: len(start_key) - len(prefix)]
    found: list[bytes] = []
    pos, size, end = 0, _RECORD.size, len(buf)
    while pos < end:
        keylen, datalen = _RECORD.unpack_from(buf, pos)
        key = buf[pos + size : pos + size + keylen]
        if not key.startswith(field_head) or not key[len(field_head) :].startswith(prefix):
            break
        found.append(key[len(field_head) :])
        pos += size + keylen + datalen
    return found


def _spell_table(seg: Segment, spellfield: str, head: str):
    """The segment's spelling words that start with ``head``, with their histograms."""
    key = ("s", seg.key, spellfield, head)
    found = cache.get(key)
    if found is None:
        fieldobj = seg.reader.schema[spellfield]
        try:
            raw = _terms_with_prefix(seg.reader, spellfield, head.encode("utf-8"))
            if raw is None:
                raw = list(seg.reader.expand_prefix(spellfield, head))
            words = [fieldobj.from_bytes(b) for b in raw]
        except (TermNotFound, KeyError, ValueError):
            words = []
        hist, lengths, ascii_ = _letter_counts(words) if words else (None, None, None)
        found = (words, hist, lengths, ascii_)
        size = sum(len(w) + 50 for w in words) + (hist.nbytes * 2 if words else 0)
        cache.put(key, found, size)
    return found


def terms_within(reader, fieldname: str, word: str, maxdist: int, prefix: int = 1) -> list[str]:
    """Words of a field's spelling list (unstemmed words for a stemmed field) within
    ``maxdist`` Damerau-Levenshtein edits of ``word`` and sharing its first ``prefix``
    characters, over every segment, in sorted order.

    The same answer as whoosh's ``IndexReader.terms_within`` over the spelling words,
    but a letter-histogram bound (an edit changes at most two letter counts) rules out
    nearly every word with array arithmetic before the exact distance is computed.
    """
    if not word or prefix < 1:
        raise ValueError("terms_within needs a word and a prefix of at least 1")
    schema = reader.schema
    if fieldname not in schema:
        return []
    spellfield = schema[fieldname].spelling_fieldname(fieldname)
    if spellfield not in schema:
        return []
    head = word[:prefix]
    target = _histogram(word)
    found: set[str] = set()
    leaves = [(reader, 0)] if isinstance(reader, SegmentReader) else reader.leaf_readers()
    for leaf, offset in leaves:
        if type(leaf) is not SegmentReader:
            found.update(leaf.terms_within(fieldname, word, maxdist, prefix))
            continue
        words, hist, lengths, ascii_ = _spell_table(Segment(leaf, offset), spellfield, head[0])
        if not words:
            continue
        near = (np.abs(lengths - len(word)) <= maxdist) & (
            ~ascii_ | (np.abs(hist - target).sum(axis=1) <= 2 * maxdist)
        )
        for i in np.flatnonzero(near).tolist():
            candidate = words[i]
            if candidate.startswith(head) and candidate not in found:
                if damerau_levenshtein(candidate, word, limit=maxdist) <= maxdist:
                    found.add(candidate)
    return sorted(found)
