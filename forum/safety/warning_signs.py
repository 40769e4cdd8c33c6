"""Spot the warning signs that should send someone on azathioprine to their care team.

``find_warning_signs(text)`` returns the sign categories a person describes *having*:
fever, chills, other signs of infection, sore throat, unusual bruising or bleeding,
yellow skin or eyes, black or bloody stools, severe stomach pain.

It is deliberately a small rule set rather than a model, so its decisions can be read:

* text is split into sentences (and bullet lists are joined back to the line that
  introduces them), sentences into clauses at "but", "now", "though", ";";
* a sign inside a clause is ignored when a negation comes just before it ("no fever",
  "haven't had any bleeding gums or nosebleeds"), when it has gone away ("fever's gone",
  "has cleared up"), when the clause is hypothetical or advice ("if you get a fever",
  "told me to watch for", "risk of infection"), or about the distant past ("years ago");
* a sentence that enumerates three or more kinds of sign without the writer saying they
  have them ("warning signs: fever, chills, bruising...") only names the list.

Precision and recall are measured on the labelled set in tests/data/warning_signs.jsonl.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Shown in the banner, in this order.
WARNING_SIGNS: dict[str, str] = {
    "fever": "a fever or high temperature",
    "chills": "chills or shivering",
    "infection": "other signs of infection (a wound that looks infected, a cough that "
    "will not clear, flu-like illness)",
    "sore_throat": "a sore throat or mouth ulcers that will not go away",
    "bruising_bleeding": "unusual bruising or bleeding (gums, nose, tiny red spots)",
    "jaundice": "yellow skin or yellow whites of the eyes",
    "stools": "black, tarry or bloody stools",
    "stomach_pain": "severe stomach pain",
}

_W = r"(?:\W+\w+){0,%d}\W+"  # up to N words between two parts

_SEVERE = (
    r"(?:severe|really bad|very bad|so bad|terrible|awful|agonising|agonizing|excruciating|"
    r"unbearable|worst|intense|crippling|horrendous|horrible|extreme|bad)"
)
_TUMMY = r"(?:stomach|tummy|abdominal|abdomen|belly|upper stomach|gut)"
_STOOL = r"(?:stools?|poo+p?s?|faeces|feces|bowel movements?|motions)"

PATTERNS: dict[str, list[str]] = {
    "fever": [
        r"\bfe+v[ae]?r(?:s|ish|y)?\b",
        r"\bfevre\b",
        r"\bpyrexi[ac]l?\b",
        r"\b(?:high|raised|a|running a) temp(?:erature)?\b(?! (?:is|was) normal)",
        r"\btemp(?:erature)?s? (?:keeps? |kept )?(?:going|gone|went|shooting|spiking|spiked)"
        r" up\b",
        r"\b(?:hot and cold|boiling then freezing|burning up)\b",
    ],
    "chills": [
        r"\bchills\b",
        r"\bshiver(?:ing|s|y)\b",
        r"\brigou?rs\b",
        r"\bthe shakes\b",
    ],
    "infection": [
        r"\binfect(?:ion|ions|ed)\b",
        r"\b(?:uti|utis)\b",
        r"\bflu[- ]like\b",
        r"\b(?:coming down with|got|have|caught) (?:the )?flu\b",
        r"\boozing\b",
        r"\bpus\b",
        r"\bcough (?:that|which) (?:won't|will not|doesn't|does not) (?:shift|go|clear)",
        r"\bburning when i (?:pee|wee)\b",
    ],
    "sore_throat": [
        r"\b(?:sore|soar|sor|saw) (?:throat|throte|throut|thraot)s?\b",
        r"\bthroat (?:is|feels|has been|was)" + _W % 2 + r"(?:sore|raw|on fire|agony|killing)",
        r"\btonsill?itis\b",
        r"\bstrep throat\b",
        r"\bwhite spots on my tonsils\b",
        r"\bmouth ulcers\b",
    ],
    "bruising_bleeding": [
        r"\bbrui?s(?:e|es|ing|ed)\b(?! from the (?:needle|blood test|jab|injection|cannula))",
        r"\bbleed(?:ing|s)?\b(?! hearts?\b)",
        r"\bnose ?bleeds?\b",
        r"\bblood when i blow my nose\b",
        r"\bpetechiae\b",
        r"\b(?:tiny|small|pinprick|little) (?:red|purple) (?:spots|dots)\b",
    ],
    "jaundice": [
        r"\bjaund[ia][cs]e[ds]?\b",
        r"\byellow(?:ish|y|ing)?\b" + _W % 4 + r"(?:skin|eyes?|complexion)\b",
        r"\b(?:skin|eyes?|complexion)\b" + _W % 4 + r"yellow(?:ish|y)?\b",
        r"\byellow tinge\b",
    ],
    "stools": [
        r"\b(?:black|tarry|bloody)\b" + _W % 2 + _STOOL + r"\b",
        r"\b" + _STOOL + r"\b" + _W % 3 + r"(?:black|tarry|bloody)\b",
        r"\bblood in (?:my |the |his |her )?(?:" + _STOOL + r"|toilet)\b",
        r"\bbloody (?:diarrho?ea|diarrhea)\b",
        r"\bpassing blood\b",
        r"\brectal bleeding\b",
    ],
    "stomach_pain": [
        r"\b" + _SEVERE + r"\b" + _W % 2 + _TUMMY + r"\W+(?:pain|ache|cramps?)\b",
        r"\b" + _SEVERE + r" pain in (?:my |the )?" + _TUMMY + r"\b",
        r"\b" + _TUMMY + r" (?:pain|ache|cramps?)\b" + _W % 3 + _SEVERE + r"\b",
        r"\bpain in (?:my |the )?" + _TUMMY + r"\b" + _W % 2 + _SEVERE + r"\b",
        r"\bpancreatitis\b",
        r"\bdoubled over\b",
    ],
}

_COMPILED = {k: [re.compile(p, re.IGNORECASE) for p in v] for k, v in PATTERNS.items()}
# A cheap first look (plain substrings of the lower-cased text): a category's patterns only
# run on text containing one of its stems.
_CATEGORY_STEMS: dict[str, tuple[str, ...]] = {
    "fever": ("fev", "feev", "pyrex", "temp", "hot and cold", "boiling", "burning up"),
    "chills": ("chills", "shiver", "rigo", "shakes"),
    "infection": ("infect", "uti", "flu", "oozing", " pus", "cough", "burning when"),
    "sore_throat": ("thro", "tonsil", "strep", "ulcer"),
    "bruising_bleeding": ("brui", "brus", "bleed", "blood", "petechiae", "spots", "dots"),
    "jaundice": ("jaund", "yellow"),
    "stools": ("stool", "poo", "faeces", "feces", "bowel", "motions", "diarrh", "blood", "rectal"),
    "stomach_pain": ("stomach", "tummy", "abdom", "belly", "gut", "pancrea", "doubled"),
}


def _has_stem(low: str, category: str) -> bool:
    return any(stem in low for stem in _CATEGORY_STEMS[category])


# Fixed phrases that contain a sign word but are not a sign.
_NOT_A_SIGN = re.compile(
    r"\b(?:hay|cabin|scarlet) fever\b|\bfever clinic\b|\bbleeding hearts?\b|"
    r"\bbruised (?:ego|pride)\b|\binfection (?:control|clinic|risk)\b",
    re.IGNORECASE,
)

_NEGATORS = {
    "no", "not", "never", "without", "nor", "none", "zero", "denies", "denied", "negative",
    "don't", "dont", "didn't", "didnt", "haven't", "havent", "hasn't", "hasnt", "isn't",
    "wasn't", "aren't", "weren't", "doesn't", "doesnt", "free",
}  # fmt: skip
# Between a negated sign and the next one: "no fever, chills or sore throat".
_LIST_GLUE = {"or", "and", "nor", "any", "a", "an", "the", "of", "signs", "sign", "either"}

_RESOLVED_AFTER = re.compile(
    r"^\W*(?:\S+\s+){0,6}?(?:'s gone|is gone|has gone|have gone|went away|gone away|"
    r"has cleared|have cleared|cleared up|has faded|have faded|faded|stopped|has settled|"
    r"settled down|resolved|has passed|disappeared|broke|is over|free\b|-free\b)",
    re.IGNORECASE,
)

_HYPOTHETICAL = re.compile(
    r"\b(?:if|in case|watch (?:out )?for|look(?:ing)? out for|keep an eye (?:out )?for|"
    r"signs? (?:to|of what to)|things to (?:report|watch)|to report|warning signs?|red flags?|"
    r"leaflet|told (?:me|us|you) to|tell (?:me|us|you) to|said to (?:ring|call|report)|"
    r"reasons? to (?:call|ring)|ring if|call if|risk|chance of|worried about|avoid|prevent|"
    r"prone to|side effects? (?:include|list|are)|a (?:rare |common )?side effect|"
    r"can be a sign|could be a sign|according to|asked (?:if|about|whether)|would|"
    r"the card says|drummed)",
    re.IGNORECASE,
)

# Advice or facts about the drug, wherever they sit in the clause.
_ABOUT_THE_DRUG = re.compile(
    r"\b(?:leaflet|according to|can be a sign|could be a sign|is a (?:rare |common |known )?"
    r"side effect)\b",
    re.IGNORECASE,
)

_DISTANT_PAST = re.compile(
    r"\b(?:years? ago|last year|used to|back in (?:19|20)\d\d|when i was (?:a )?"
    r"(?:kid|child|teenager|little|young)|as a (?:kid|child|teenager)|before i (?:was diagnosed|"
    r"started)|before (?:aza|azathioprine|starting))\b",
    re.IGNORECASE,
)

_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|ive|my|me)\b", re.IGNORECASE)

_GENERIC_QUESTION = re.compile(r"^\W*(?:is|does|do|can|could|would|should|are)\b", re.I)

_CLAUSE_SPLIT = re.compile(
    r"\s*(?:;|\bbut\b|\bhowever\b|\bthough\b|\balthough\b|\bwhereas\b|\bnow\b|\byet\b)\s*",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|-free", re.IGNORECASE)

_TEMP_VALUE = re.compile(
    r"\b(?:temp(?:erature)?|fever)\b\W+(?:(?:is|was|of|at|reading|hit|up to|about|around)\W+)*"
    r"(\d{2,3}(?:\.\d)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SignMatch:
    category: str
    text: str


def has_warning_signs(text: str | None) -> bool:
    return bool(find_warning_signs(text))


def find_warning_signs(text: str | None) -> list[str]:
    """The categories (keys of WARNING_SIGNS) the text describes someone having, in order."""
    return list(_find_cached(text or ""))


@lru_cache(maxsize=2048)  # thread pages render the same posts again and again
def _find_cached(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in find_sign_matches(text):
        if match.category not in found:
            found.append(match.category)
    return tuple(k for k in WARNING_SIGNS if k in found)


def find_in_query(query: str | None) -> list[str]:
    """Sign categories a search mentions ("black stools", "fever on aza"), unless negated.

    Searches are keywords, not sentences: no list or hypothetical rules apply, so
    "fever chills sore throat" still shows the banner.
    """
    found = set()
    for clause in _CLAUSE_SPLIT.split((query or "")[:500]):
        for start, _end, category in _raw_hits(clause):
            if not _negated(clause[:start]):
                found.add(category)
    return [k for k in WARNING_SIGNS if k in found]


def find_sign_matches(text: str | None) -> list[SignMatch]:
    matches: list[SignMatch] = []
    for sentence in _sentences(text or ""):
        matches.extend(_sentence_matches(sentence))
    return matches


def _sentences(text: str) -> list[str]:
    """Sentences, with bullet items joined to the line that introduces them."""
    lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n")]
    blocks: list[str] = []
    for line in lines:
        if not line:
            blocks.append("")
            continue
        if _BULLET.match(line):
            item = _BULLET.sub("", line).rstrip(".;,")
            if blocks and blocks[-1] and (blocks[-1].endswith(":") or blocks[-1].endswith(",")):
                blocks[-1] = blocks[-1] + " " + item + ","
                continue
            blocks.append(item + ",")
            continue
        blocks.append(line)
    sentences: list[str] = []
    for block in blocks:
        sentences.extend(s for s in _SENTENCE_END.split(block) if s.strip())
    return sentences


def _raw_hits(clause: str) -> list[tuple[int, int, str]]:
    low = " " + clause.lower()
    if not any(_has_stem(low, category) for category in _CATEGORY_STEMS):
        return []
    hits = []
    masked = _NOT_A_SIGN.sub(lambda m: " " * len(m.group(0)), clause)
    for category, patterns in _COMPILED.items():
        if not _has_stem(low, category):
            continue
        for pattern in patterns:
            for m in pattern.finditer(masked):
                hits.append((m.start(), m.end(), category))
    for m in _TEMP_VALUE.finditer(masked):
        value = float(m.group(1))
        if 37.8 <= value <= 43 or 100 <= value <= 108:
            hits.append((m.start(), m.end(), "fever"))
        else:  # "temperature is normal, 36.8": a measured normal value is not a fever
            hits = [h for h in hits if not (h[2] == "fever" and h[0] == m.start())]
    hits.sort()
    return hits


def _clause_spans(sentence: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _CLAUSE_SPLIT.finditer(sentence):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(sentence)))
    return spans


def _sentence_matches(sentence: str) -> list[SignMatch]:
    hits = _raw_hits(sentence)
    categories = {h[2] for h in hits}
    if not categories:
        return []
    if len(categories) >= 3 and (
        _HYPOTHETICAL.search(sentence)
        or not _FIRST_PERSON.search(sentence)
        or re.search(r"\bnone of (?:them|these|those)\b|\ba list\b|\bthe list\b", sentence, re.I)
    ):
        return []  # names the list of warning signs rather than describing them
    if sentence.rstrip().endswith("?") and _GENERIC_QUESTION.match(sentence):
        if not re.search(r"\b(?:i|my|i'm|i've)\b", sentence, re.I):
            return []  # "Is bruising a common side effect?"
    result = []
    for start, end in _clause_spans(sentence):
        local = [(s - start, e - start, c) for s, e, c in hits if start <= s < end]
        result.extend(_clause_matches(sentence[start:end], local))
    return result


def _clause_matches(clause: str, hits: list[tuple[int, int, str]]) -> list[SignMatch]:
    if not hits or _DISTANT_PAST.search(clause) or _ABOUT_THE_DRUG.search(clause):
        return []
    result = []
    previous_end, previous_negated = None, False
    for start, end, category in hits:
        before = clause[:start]
        negated = _negated(before)
        if not negated and previous_negated and previous_end is not None:
            between = _WORD.findall(clause[previous_end:start])
            negated = all(w.lower() in _LIST_GLUE or _is_sign_word(w) for w in between)
        previous_end, previous_negated = max(end, previous_end or 0), negated
        if negated or _RESOLVED_AFTER.search(clause[end:]):
            continue
        if _HYPOTHETICAL.search(before):
            continue
        result.append(SignMatch(category, clause[start:end]))
    return result


def _negated(before: str) -> bool:
    words = [w.lower() for w in _WORD.findall(before)][-4:]
    return any(w in _NEGATORS for w in words) or before.lower().rstrip().endswith("no more")


_SIGN_WORDS = {
    "fever", "fevers", "chills", "sore", "throat", "throats", "bruising", "bruises",
    "bleeding", "gums", "nosebleeds", "jaundice", "yellow", "skin", "eyes", "black",
    "stools", "infection", "infections", "temperature", "unusual", "high",
}  # fmt: skip


def _is_sign_word(word: str) -> bool:
    return word.lower() in _SIGN_WORDS
