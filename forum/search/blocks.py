"""Decoding whoosh's own posting blocks with numpy (``whoosh.codec.whoosh3``).

``parse_blocks`` reads the delta-coded ids and weights of a long posting list without
unpickling each block; ``decode_positions`` reads the positions of chosen postings out
of their encoded values. Both fall back to whoosh's own decoding for anything they do
not recognise, so the result is always what whoosh itself would read.
"""

from __future__ import annotations

import numpy as np
from whoosh.compat import loads  # whoosh's own pickle reader, for its own blocks

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
