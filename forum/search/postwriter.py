"""Writing a segment's terms and postings files in one lean pass (``write_postings``).

whoosh's ``FieldWriter`` spends about 15 function calls, a ``W3TermInfo``, a block
object's statistics, an ``OrderedHashWriter.add`` and several small file writes per
term; a segment of generated forum threads has about 75 distinct terms a thread, so
that per-term machinery was the largest part of indexing a thread (~2.3 of ~5.8 ms on
the shared 2-core machine). This module writes the same bytes - the ``.pst`` blocks
(header, then per block of ``blocklimit`` postings its length, its pickled statistics
and its zlib-compressed pickled data) and the ``.trm`` ordered hash (entries, 256 hash
tables with linear probing, directory, extras) - from a ``pool.CompactPool``'s
arrays with one buffered write per few megabytes: whoosh 2.7's ``W3Codec`` format,
read by whoosh and by this package's own decoder unchanged. One difference: blocks
whose pickle is under ``COMPRESS_MIN`` bytes are not compressed (whoosh's writer means to
skip compressing tiny blocks too, but a slip in it compresses every block).

A term with one posting (~83% of the terms of generated threads) takes a short path
(``_one_posting``): its block's two pickles are assembled from remembered pickles of the
same shape, with the document number's opcode put in - 0.60 -> 0.18 s for the ~84,000
one-posting terms of 2,000 generated threads.

``tests/integration/test_index_speed.py::test_lean_postings_writer_writes_whooshs_bytes``
checks the files are byte for byte those whoosh's writer makes from the same pool (with
``COMPRESS_MIN`` 0), and that searches read the same postings with the default.
"""

from __future__ import annotations

import zlib
from array import array
from hashlib import md5
from itertools import chain
from operator import sub
from pickle import dumps

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.filedb.filetables import _lengths, _pointer
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import length_to_byte

# A block whose pickle is shorter is stored uncompressed (its info says so, and both
# whoosh and ``segment`` read that per block): zlib's set-up costs ~10 us a call and a
# pickle this short barely shrinks (2,000 generated threads: postings file +0.2%).
COMPRESS_MIN = 200
# zlib's window for a block: 4 KB instead of its default 32 KB. A block's pickle is a few
# KB at most, so the output is as small (within 1%), but zlib sets up a 32 KB window and
# its tables for every call: this halves the time a build spends compressing (~10% of
# writing a segment). Any zlib reader decodes it (the window size is in the stream's
# header, and whoosh decompresses with the largest).
WBITS = 12
FLUSH_BYTES = 4 << 20  # buffered output written out past this size
_TERMINFO = W3TermInfo._struct
_POINTER = _pointer.pack


def supported(fw) -> bool:
    """True when ``fw`` is a fresh whoosh 3 field writer this module reproduces
    (postings never inlined, integer document numbers, nothing written yet)."""
    codec = getattr(fw, "_codec", None)
    return (
        codec is not None
        and getattr(codec, "_inlinelimit", None) == 1
        and not fw._fieldmap
        and fw._postfile.tell() == 0
        and len(fw._tindex.index) == 0
    )


def _hash(key: bytes) -> int:
    """``filetables.md5_hash``: the low 32 bits of the key's MD5."""
    return int.from_bytes(md5(key, usedforsecurity=False).digest()[12:], "big")


def write_postings(fw, schema, lengths, pool) -> None:
    """Write every term of ``pool`` (a ``CompactPool``) through the whoosh 3 field
    writer ``fw`` as ``FieldWriter.add_postings`` would, in term order; ``lengths``
    gives each field's length column (``fastwriter._Lengths``). ``fw.close()`` follows."""
    codec = fw._codec
    blocklimit = codec._blocklimit
    comp = codec._compression
    postfile = fw._postfile
    tindex = fw._tindex
    tfile = tindex.dbfile
    fieldmap = fw._fieldmap
    buckets = tindex.buckets
    index: list[int] = []
    pst: list[bytes] = []
    trm: list[bytes] = []
    ppos = postfile.tell()
    tpos = tfile.tell()
    pbuffered = tbuffered = 0
    lastfn = None
    prefix = b""
    column = None
    fixedsize = None
    for key in sorted(pool.terms):
        fieldname, btext = key
        docs, weights, buf, ends = pool.terms[key]
        if fieldname != lastfn:
            fieldmap[fieldname] = len(fieldmap)
            prefix = pack_ushort(fieldmap[fieldname])
            column = lengths.column(fieldname)
            fixedsize = schema[fieldname].format.fixed_value_size()
            lastfn = fieldname
        start = ppos
        if len(docs) == 1:
            chunk, ppos, terminfo = _one_posting(
                docs, weights, buf, ends, column, fixedsize, comp, ppos
            )
        else:
            chunk, ppos, terminfo = _blocks(
                docs, weights, buf, ends, column, fixedsize, comp, blocklimit, ppos
            )
        pst.extend(chunk)
        pbuffered += ppos - start
        value = _TERMINFO.pack(*terminfo) + pack_long(start) + pack_int(ppos - start)
        tkey = prefix + btext
        entry = _lengths.pack(len(tkey), len(value)) + tkey + value
        h = _hash(tkey)
        buckets[h & 255].append((h, tpos))
        index.append(tpos)
        trm.append(entry)
        tpos += len(entry)
        tbuffered += len(entry)
        if pbuffered > FLUSH_BYTES:
            postfile.write(b"".join(pst))
            pst, pbuffered = [], 0
        if tbuffered > FLUSH_BYTES:
            tfile.write(b"".join(trm))
            trm, tbuffered = [], 0
    postfile.write(b"".join(pst))
    tfile.write(b"".join(trm))
    tindex.index.extend(index)
    if index:
        tindex.lastkey = tkey
    tindex._write_hashes = lambda: _write_hashes(tindex)


def _blocks(docs, weights, buf, ends, column, fixedsize, comp, blocklimit, ppos):
    """A term's posting blocks as whoosh's ``W3PostingsWriter`` writes them: (the byte
    strings to write, the postings file position after them, the ``W3TermInfo``
    fields). ``ppos``: where the term's postings start."""
    chunk = [WHOOSH3_HEADER_MAGIC]
    ppos += 4
    count = len(docs)
    total = 0
    minlength = None
    maxlength = 0
    maxweight = 0
    data = bytes(buf) if buf is not None else None
    for s in range(0, count, blocklimit):
        e = min(s + blocklimit, count)
        ids = docs[s:e]
        w64 = weights[s:e]
        w32 = array("f", w64)
        bmax = max(w64)
        bmax = bmax if bmax > 0 else 0
        lens = [n for d in ids if (n := column[d])] if column is not None else ()
        bmin = min(lens) if lens else None
        bmaxlen = max(lens) if lens else 0
        values: list[bytes] = []
        if data is not None:
            lo = ends[s - 1] if s else 0
            for end in ends[s:e]:
                if end > lo:  # whoosh keeps only non-empty values
                    values.append(data[lo:end])
                lo = end
        minivalues = _minivalues(values, fixedsize)
        deltas = tuple(map(sub, ids, chain((0,), ids)))
        if w32.count(1.0) == e - s:  # as all(w == 1.0 ...), at C speed
            mini = None
        elif w32.count(w32[0]) == e - s:
            mini = w32[0]
        else:
            mini = tuple(w32)
        body = dumps((deltas, mini, minivalues), 2)
        bcomp = comp if len(body) >= COMPRESS_MIN else 0
        if bcomp:
            body = zlib.compress(body, bcomp, WBITS)
        info = dumps(
            (e - s, ids[-1], bmax, bcomp, length_to_byte(bmin), length_to_byte(bmaxlen)), 2
        )
        size = len(info) + len(body)
        chunk.append(pack_int(-size if e == count else size))
        chunk.append(info)
        chunk.append(body)
        ppos += 4 + size
        # W3TermInfo.add_block
        total += sum(w32)
        if minlength is None:
            minlength = bmin
        elif bmin is not None:
            minlength = min(minlength, bmin)
        maxlength = max(maxlength, bmaxlen)
        maxweight = max(maxweight, bmax)
    minbyte = 0 if minlength is None else length_to_byte(minlength)
    terminfo = (0, total, count, minbyte, length_to_byte(maxlength), maxweight, docs[0], docs[-1])
    return chunk, ppos, terminfo


def _minivalues(values: list[bytes], fixedsize):
    if fixedsize is None or fixedsize < 0:
        return tuple(values)
    if fixedsize == 0:
        return None
    return b"".join(values)


def _one_posting(docs, weights, buf, ends, column, fixedsize, comp, ppos):
    """``_blocks`` for a term with one posting (most terms: ~83% of a generated corpus's),
    the same bytes for less: both pickles are made from cached pickles of the same shape
    with the document number's opcode put in (``_int_op``), since pickle's memo numbers
    and every other byte depend only on the other values."""
    d = docs[0]
    if not 0 <= d < 0x80000000:  # pragma: no cover - segments hold far fewer documents
        return _blocks(docs, weights, buf, ends, column, fixedsize, comp, 1, ppos)
    w = weights[0]
    w32 = w if w == 1.0 else array("f", (w,))[0]
    bmax = w if w > 0 else 0
    n = column[d] if column is not None else None
    lenbyte = length_to_byte(n) if n else 0
    if buf is not None and ends[0] > 0:
        values = [bytes(buf[: ends[0]])]
    else:
        values = []
    minivalues = _minivalues(values, fixedsize)
    mini = None if w32 == 1.0 else w32
    op = _int_op(d)
    key = (None if mini is None else mini.hex(), minivalues)
    tail = _BODY_TAILS.get(key)
    if tail is None:
        tail = _remember(_BODY_TAILS, key, dumps(((0,), mini, minivalues), 2)[4:])
    body = b"\x80\x02" + op + tail
    bcomp = comp if len(body) >= COMPRESS_MIN else 0
    if bcomp:
        body = zlib.compress(body, bcomp, WBITS)
    key = (bmax.__class__, bmax, bcomp, lenbyte)  # the class: 0 (no weight) is an int
    tail = _INFO_TAILS.get(key)
    if tail is None:
        info = (1, 0, bmax, bcomp, lenbyte, lenbyte)  # length_to_byte(None) is 0 too
        tail = _remember(_INFO_TAILS, key, dumps(info, 2)[7:])
    info = b"\x80\x02(K\x01" + op + tail
    size = len(info) + len(body)
    chunk = [WHOOSH3_HEADER_MAGIC, pack_int(-size), info, body]
    terminfo = (0, w32 + 0.0, 1, lenbyte, lenbyte, bmax, d, d)  # + 0.0: sum()'s -0.0
    return chunk, ppos + 8 + size, terminfo


_INT_OPS: dict[int, bytes] = {}
_BODY_TAILS: dict[tuple, bytes] = {}  # (weight, values) -> a one-posting block's pickle tail
_INFO_TAILS: dict[tuple, bytes] = {}  # (bmax, compression, lengths) -> its info's tail
_MAX_REMEMBERED = 100_000


def _int_op(d: int) -> bytes:
    """Pickle protocol 2's opcode and argument for the integer ``d`` (0 <= d < 2**31)."""
    op = _INT_OPS.get(d)
    if op is None:
        if d < 0x100:
            op = b"K" + d.to_bytes(1, "little")
        elif d < 0x10000:
            op = b"M" + d.to_bytes(2, "little")
        else:
            op = b"J" + d.to_bytes(4, "little")
        _remember(_INT_OPS, d, op)
    return op


def _remember(cache: dict, key, value: bytes) -> bytes:
    if len(cache) >= _MAX_REMEMBERED:
        cache.clear()
    cache[key] = value
    return value


def _write_hashes(tindex) -> None:
    """``HashWriter._write_hashes`` with each table packed and written at once."""
    dbfile = tindex.dbfile
    pos = dbfile.tell()
    out: list[bytes] = []
    for entries in tindex.buckets:
        numslots = 2 * len(entries)
        tindex.directory.append((pos, numslots))
        table = [(0, 0)] * numslots
        for hashval, position in entries:
            slot = (hashval >> 8) % numslots
            while table[slot][1]:
                slot = (slot + 1) % numslots
            table[slot] = (hashval, position)
        out.extend(_POINTER(h, p) for h, p in table)
        pos += numslots * _pointer.size
    dbfile.write(b"".join(out))
