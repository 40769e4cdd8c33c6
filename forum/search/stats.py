"""What query building asks the index: document frequencies and spelling corrections.

Frequencies count every document of the index's segments, including the old copy of
a thread replaced since (a hidden reply, an edit) until its segment is merged away.
That is fine for weighing words, but not for "did you mean": a correction is offered
only when a document people can see has the word (``visible``), so a word that only a
hidden or deleted post used never appears on the page.
"""

from __future__ import annotations

from whoosh.reading import TermNotFound
from whoosh.support.levenshtein import damerau_levenshtein as distance

from .concepts import concepts, known_words, stems
from .spelling import terms_within

MAX_CORRECTIONS = 3
MAX_CANDIDATES = 50


MEMO_MAX = 20_000  # answers kept per searcher (a few hundred bytes each)


class IndexStats:
    """Index statistics for query builds (no index: neutral).

    The answers (frequencies, whether a live document has a word) are kept on the
    searcher: a searcher is a snapshot that never changes - a new document or deletion
    opens a new one - so they hold for as long as it does, and the next search on it
    (another word beside a concept already asked about) does not open the postings of
    every segment again (~0.3 ms a word; a misspelling's suggestion asks about each
    name of its concept).
    """

    def __init__(self, searcher):
        self.searcher = searcher
        self.reader = searcher.reader() if searcher is not None else None
        self.docs = max(1, searcher.doc_count() - 1) if searcher is not None else 1
        self._df: dict[str, int] = _memo(searcher)

    def df(self, stem: str) -> int:
        """Threads using this stem in any text field (max over fields: cheap, enough)."""
        if self.reader is None:
            return 1
        if stem not in self._df:
            self._df[stem] = self.reader.doc_frequency("content", stem)
        return self._df[stem]

    def df_in(self, fieldname: str, token: str) -> int:
        if self.reader is None:
            return 1
        key = f"{fieldname}\x00{token}"
        if key not in self._df:
            self._df[key] = self.reader.doc_frequency(fieldname, token)
        return self._df[key]

    def visible(self, fieldname: str, token: str) -> bool:
        """Whether a live (not deleted) document has ``token`` in ``fieldname``."""
        if self.reader is None:
            return False
        key = f"live\x00{fieldname}\x00{token}"
        if key not in self._df:
            try:
                self._df[key] = int(self.reader.postings(fieldname, token).is_active())
            except TermNotFound:
                self._df[key] = 0
        return bool(self._df[key])

    def concept_df(self, key: tuple[str, ...]) -> int:
        """Threads naming, in any of its words, a concept that ``key`` is a name of: a
        drug name nobody wrote ("adalimumab") still corrects a misspelling when threads
        use its other names ("Humira")."""
        table, _longest = concepts()
        named = [c for c in table.get(key, []) if self.visible("concepts", c.cid)]
        return max((self.df_in("concepts", c.cid) for c in named), default=0)

    def corrections(self, word: str) -> list[str]:
        """Visible forum words (or vocabulary words of visible concepts) close to a word
        the forum never used, most frequent first (edit distance 1 for 5-7 letters, 2
        for longer, first letter fixed)."""
        if self.reader is None or len(word) < 5 or word.isdigit():
            return []
        maxdist = 1 if len(word) <= 7 else 2
        found: dict[str, int] = {}
        try:
            candidates = terms_within(self.reader, "content", word, maxdist, prefix=1)
        except (KeyError, ValueError):  # field without spelling data yet
            candidates = []
        for n, candidate in enumerate(candidates):
            if n >= MAX_CANDIDATES:
                break
            if candidate != word and candidate not in found:
                key = stems(candidate)
                if key:
                    found[candidate] = self.df(key[0])
        for candidate in known_words():
            if candidate[0] == word[0] and abs(len(candidate) - len(word)) <= maxdist:
                if candidate not in found and distance(candidate, word, limit=maxdist) <= maxdist:
                    key = stems(candidate)
                    if key:
                        found[candidate] = self.df(key[0]) or self.concept_df(key)
        ranked = sorted(found, key=lambda c: (-found[c], c))
        return [c for c in ranked if found[c] > 0 and self._shown(c)][:MAX_CORRECTIONS]

    def _shown(self, candidate: str) -> bool:
        key = stems(candidate)
        return bool(key) and (self.visible("content", key[0]) or self.concept_df(key) > 0)


def _memo(searcher) -> dict[str, int]:
    if searcher is None:
        return {}
    memo = getattr(searcher, "_forum_stats", None)
    if memo is None or len(memo) > MEMO_MAX:
        memo = searcher._forum_stats = {}
    return memo
