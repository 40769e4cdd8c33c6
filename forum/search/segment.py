"""One segment (leaf reader) of a searcher as numpy arrays: postings, positions,
field lengths, sort keys, deleted documents and facet tables, each decoded once through
whoosh's codec and kept in the process-wide cache (``lru``)."""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.fields import NUMERIC
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import SegmentReader, TermNotFound

from . import packs
from .blocks import _block_weights, decode_positions, parse_blocks
from .lru import cache
from .schema import META_ID

_EMPTY_IDS = np.zeros(0, dtype=np.int32)


class Unsupported(Exception):
    """The query or index uses something this evaluator does not reproduce."""


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


_UNSET = object()
FACET_BITS_MAX = 2 * 1024 * 1024  # bytes of value bitmaps per segment: ~160 values at 100k docs


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

    def pack(self) -> packs.Pack | None:
        """This segment's postings pack (memory-mapped), or None: no pack, or packs off."""
        if not packs.enabled or self.key[0].startswith("mem-"):
            return None
        found = self.__dict__.get("_pack", _UNSET)  # looked up once per search
        if found is _UNSET:
            path = packs.pack_path(self.key[0], self.reader.segment().segment_id())
            found = self._pack = packs.open_pack(self.key, path, self.n)
        return found

    def postings(self, fieldname: str, tbytes: bytes) -> Postings:
        pack = self.pack()
        if pack is not None:
            found = pack.postings(fieldname, tbytes)
            if found is not None:
                return Postings(*found)
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

    def write_pack(self) -> int:
        """Write this segment's postings pack: every list of ``packs.MIN_POSTINGS`` or
        more, decoded here once. Returns the number of lists packed."""
        reader = self.reader

        def lists():
            for fieldname in reader.indexed_field_names():
                if fieldname in packs.SKIP_FIELDS or fieldname not in reader.schema:
                    continue
                if isinstance(reader.schema[fieldname], NUMERIC):  # dates, counts: unused
                    continue
                fmt = reader.schema[fieldname].format
                positional = bool(fmt and fmt.supports("positions"))
                for (fn, tbytes), info in reader.iter_from(fieldname, b""):
                    if fn != fieldname:
                        break
                    if info.doc_frequency() < packs.MIN_POSTINGS:
                        continue
                    if not positional:
                        post = self._decode(fieldname, tbytes)
                        yield fieldname, tbytes, post.ids, post.weights, None
                        continue
                    post, values = self._decode(fieldname, tbytes, with_values=True)
                    positions = None
                    if values is not None:
                        owner, pos = decode_positions(
                            values.blob, values.begin, values.lens, fmt.decode_positions
                        )
                        order = np.argsort(owner, kind="stable")  # slow ones come last
                        positions = (np.bincount(owner, minlength=len(post.ids)), pos[order])
                    yield fieldname, tbytes, post.ids, post.weights, positions

        path = packs.pack_path(self.key[0], reader.segment().segment_id())
        return packs.write(path, self.n, lists())

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

    def packed_positions(self, fieldname: str, tbytes: bytes) -> bool:
        """Whether this segment's pack holds the term's positions (read from the map)."""
        pack = self.pack()
        if pack is None or not pack.has_positions:
            return False
        entry = pack.terms.get(fieldname, {}).get(tbytes.decode("latin-1"))
        return entry is not None and len(entry) >= 7

    def positions(self, fieldname: str, tbytes: bytes, at: np.ndarray):
        """Positions of the postings at indexes ``at`` of a term, as two flat arrays:
        which of ``at`` each position belongs to, and the position."""
        pack = self.pack()
        if pack is not None:
            found = pack.positions(fieldname, tbytes, at)
            if found is not None:
                return found
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
                    pack = self.pack()
                    found_in_pack = pack.postings(fieldname, tbytes) if pack else None
                    post = (
                        Postings(*found_in_pack)
                        if found_in_pack is not None
                        else self._decode(fieldname, tbytes)
                    )
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

    def facet_bits(self, fields: tuple[str, ...]) -> np.ndarray | None:
        """One packed bitmap of documents per facet value (rows in ``facet_table``'s label
        order), or None when they would take more than ``FACET_BITS_MAX`` bytes."""
        key = ("fb", self.key, fields)
        found = cache.get(key)
        if found is None:
            all_ids, codes, labels = self.facet_table(fields)
            width = (self.n + 7) // 8
            if len(labels) * width > FACET_BITS_MAX:
                return None
            dense = np.zeros((len(labels), width * 8), dtype=bool)
            dense[codes, all_ids] = True
            found = np.packbits(dense, axis=1)
            cache.put(key, found, found.nbytes)
        return found

    def count_facets(self, fields: tuple[str, ...], ids: np.ndarray, counts: dict) -> None:
        """Add the facet values of documents ``ids`` to ``counts`` ((field, value) -> n):
        per value, the bits set in both its bitmap and the matches' (a few hundred bytes
        per value and thousand documents), else a bincount over every facet posting."""
        all_ids, codes, labels = self.facet_table(fields)
        if len(all_ids):
            bits = self.facet_bits(fields)
            if bits is not None:
                matched = np.zeros(bits.shape[1] * 8, dtype=bool)
                matched[ids] = True
                per_code = np.bitwise_count(bits & np.packbits(matched)).sum(axis=1)
            else:
                matched = np.zeros(self.n, dtype=bool)
                matched[ids] = True
                per_code = np.bincount(codes[matched[all_ids]], minlength=len(labels))
            for code in np.flatnonzero(per_code).tolist():
                label = labels[code]
                counts[label] = counts.get(label, 0) + int(per_code[code])


def write_packs(storage, schema, segments, min_docs: int = 0) -> int:
    """Write the postings pack of each whoosh segment of ``segments`` with at least
    ``min_docs`` documents (``packs``); the number of packs written."""
    written = 0
    for seg in segments:
        if seg.doc_count_all() < min_docs:
            continue
        reader = SegmentReader(storage, schema, seg)
        try:
            Segment(reader, 0).write_pack()
            written += 1
        finally:
            reader.close()
    return written
