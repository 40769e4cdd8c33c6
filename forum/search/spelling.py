"""Spelling candidates: the words of a segment's spelling field within an edit distance
of a misspelled word, from cached per-segment word tables (``terms_within``)."""

from __future__ import annotations

import struct

import numpy as np
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.support.levenshtein import damerau_levenshtein

from .lru import cache
from .segment import Segment


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
