"""A segment's postings while it is built, in memory (``CompactPool``), and the postings
of the fields whoosh's ``add_document`` indexes itself (``field_postings``).

``fastwriter``'s build writer keeps every posting of the segment it builds here until
``postwriter`` writes them out; a positions field's analysed words come in one call per
field (``CompactPool.add_positions``), the other fields' postings one by one from
``field_postings``. tests/integration/test_index_speed.py holds both to whoosh's own.
"""

from __future__ import annotations

from array import array
from pickle import dumps
from typing import Any

from whoosh.analysis import RegexTokenizer
from whoosh.formats import Frequency
from whoosh.system import pack_uint

from .schema import Analysed

_SINGLE: dict[int, bytes] = {}  # position -> the encoded value of a word used once there


def _single(pos: int) -> bytes:
    """``Positions``' value for one occurrence at ``pos`` (remembered: most postings)."""
    value = pack_uint(1) + dumps([pos], 2)
    if len(_SINGLE) < 100_000:
        _SINGLE[pos] = value
    return value


class CompactPool:
    """Stands in for whoosh's ``PostingPool`` in a build writer: postings kept in memory
    per term, in compact arrays, instead of one tuple each in a list that is sorted at
    the end and, past ``limitmb``, pickled to disk and merged back (which is most of a
    large rebuild's posting work). Documents arrive in number order, so each term's
    postings are already sorted; only the terms are sorted when the segment is written.
    Yields exactly what ``PostingPool`` yields (tests/integration/test_index_speed.py)."""

    def __init__(self) -> None:
        # (fieldname, term bytes) -> (docnums, weights, value bytes, value ends) (the
        # last two None for postings without a value, as whoosh's spelling words are)
        self.terms: dict[tuple[str, bytes], tuple] = {}
        self.fieldnames: set[str] = set()
        self.postings = 0
        self._entries: dict[str, dict[str, tuple]] = {}  # add_positions: field -> word -> entry

    def add(self, item) -> None:
        fieldname, btext, docnum, weight, value = item
        key = (fieldname, btext)
        entry = self.terms.get(key)
        if entry is None:
            has_value = value is not None
            entry = self.terms[key] = (
                array("i"),
                array("d"),
                bytearray() if has_value else None,
                array("I") if has_value else None,
            )
            self.fieldnames.add(fieldname)
        entry[0].append(docnum)
        entry[1].append(weight)
        buf = entry[2]
        if buf is not None:
            buf += value
            entry[3].append(len(buf))
        elif value is not None:  # pragma: no cover - a field's postings all have values or none
            raise ValueError(f"mixed posting values for {key!r}")
        self.postings += 1

    def add_positions(self, fieldname: str, docnum: int, value: Analysed, boost: tuple):
        """The postings ``add`` gets from whoosh's ``add_document`` for an ``Analysed``
        value of a positions field (``schema.OnceAnalyzer``: its stems, at positions
        ``first``, ``first + 1``, ...), made in one pass instead of a Token and a call per
        word. ``boost``: (the format's, the document's for the field). Returns the field
        length (the number of stems) and the last posting's value (None without one),
        which whoosh's loop leaves behind for the field's spelling words."""
        poses: dict[str, list[int]] = {}
        for pos, stem in enumerate(value.stems, value.first):
            found = poses.get(stem)
            if found is None:
                poses[stem] = [pos]
            else:
                found.append(pos)
        entries = self._entries.get(fieldname)
        if entries is None:
            entries = self._entries[fieldname] = {}
        b0, b1 = boost
        one = 1.0 * b0 * b1  # the weight of a word used once
        single = _SINGLE
        last = None
        for word, positions in poses.items():
            entry = entries.get(word)
            if entry is None:
                entry = self._entry(fieldname, word)
                entries[word] = entry
            entry[0].append(docnum)
            if len(positions) == 1:
                pos = positions[0]
                last = single.get(pos)
                if last is None:
                    last = _single(pos)
                entry[1].append(one)
            else:
                deltas, base = [], 0
                for pos in positions:
                    deltas.append(pos - base)
                    base = pos
                # As Positions.word_values (a float sum of 1.0 boosts, times the
                # field's boost) and add_document (times the document's boost).
                entry[1].append(float(len(positions)) * b0 * b1)
                last = pack_uint(len(deltas)) + dumps(deltas, 2)
            buf = entry[2]
            buf += last
            entry[3].append(len(buf))
        self.postings += len(poses)
        return len(value.stems), last

    def _entry(self, fieldname: str, word: str) -> tuple:
        key = (fieldname, word.encode("utf-8"))  # what whoosh's utf8encode gives
        entry = self.terms.get(key)
        if entry is None:
            entry = self.terms[key] = (array("i"), array("d"), bytearray(), array("I"))
            self.fieldnames.add(fieldname)
        return entry

    def iter_postings(self):
        terms = self.terms
        for key in sorted(terms):
            fieldname, btext = key
            docs, weights, buf, ends = terms[key]
            if buf is None:
                for i in range(len(docs)):
                    yield fieldname, btext, docs[i], weights[i], None
            else:
                data = bytes(buf)
                start = 0
                for i in range(len(docs)):
                    end = ends[i]
                    yield fieldname, btext, docs[i], weights[i], data[start:end]
                    start = end

    def cleanup(self) -> None:
        self.terms = {}
        self._entries = {}


_SPACES = r"[^ \t\r\n]+"  # whoosh's SpaceSeparatedTokenizer
_MAX_REMEMBERED = 20_000


def field_postings(field, fieldname: str, value, memo: dict) -> Any:
    """``field.index(value)``: what whoosh's ``add_document`` reads for a field whose
    value is not ``Analysed``. Two shortcuts give the same tuples: a frequency field split
    on spaces (``names``, ``concepts``: a dozen words a thread) is counted in one pass,
    not through a Token per word, the analyzer's generators and two defaultdicts; and a
    short value of another frequency field (the keyword fields: "lupus", "normal", "")
    is remembered in ``memo`` (the writer's: one schema), since most threads repeat a
    handful of them."""
    if type(value) is not str or type(field.format) is not Frequency:
        return field.index(value)
    ana = field.analyzer
    if type(ana) is RegexTokenizer and not ana.gaps and ana.expression.pattern == _SPACES:
        return _space_postings(ana.expression.findall(value), field.format.field_boost)
    if len(value) > 200:
        return field.index(value)
    key = (fieldname, value)
    found = memo.get(key)
    if found is None:
        if len(memo) >= _MAX_REMEMBERED:
            memo.clear()
        found = memo[key] = tuple(field.index(value))
    return found


def _space_postings(words: list[str], boost: float) -> list[tuple]:
    """``Frequency.word_values`` + ``FieldType.index`` for words whose tokens each have a
    boost of 1.0: (utf-8 bytes, count, count * field boost, the packed count), in order of
    first use."""
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return [(word.encode("utf-8"), n, float(n) * boost, pack_uint(n)) for word, n in counts.items()]
