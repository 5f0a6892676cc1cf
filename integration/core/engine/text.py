"""Text helpers shared by the signals: normalization, tokens, quoting, similarity."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from integration.core.limits import WORD

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Lower-case, compatibility-normalized, accent-free text for matching.

    NFKC turns styled letters (𝓘 𝔀𝓪𝓷𝓽) and full-width forms into plain ones; accents are
    dropped so "reclamação" and "reclamacao" match the same pattern. Offsets are not kept:
    quotes are taken from the original text with :func:`quote`.
    """
    if text.isascii():
        return text.lower()  # what the three steps below make of ASCII, without a loop over its letters
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=16384)
def tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


def quote(text: str, start: int, end: int, width: int = 60) -> str:
    """The matched span with a little context, cut at word boundaries, for evidence an agent can read."""
    a = max(0, start - width // 3)
    b = min(len(text), end + width // 3)
    while 0 < a < start and not text[a - 1].isspace():  # never start inside a word
        a += 1
    while end < b < len(text) and not text[b].isspace():  # never stop inside a word
        b -= 1
    out = text[a:b].strip()
    return ("…" if a > 0 else "") + out + ("…" if b < len(text) else "")


def find_span(original: str, folded_match: str) -> tuple[int, int]:
    """Locate a match found in ``fold(original)`` in the original text (best effort)."""
    i = fold(original).find(folded_match)
    if i < 0 or len(fold(original)) != len(original):
        # folding changed the length (ligatures, styled letters): fall back to the whole text
        return (0, len(original)) if i < 0 else (i, min(len(original), i + len(folded_match)))
    return i, i + len(folded_match)


def evidence_quote(original: str, match: re.Match[str]) -> str:
    start, end = find_span(original, match.group(0))
    return quote(original, start, end)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@lru_cache(maxsize=16384)
def shingles(text: str) -> frozenset[str]:
    """Content-word set plus character 4-grams: robust to rephrasing and typos."""
    toks = [t for t in tokens(text) if t not in STOPWORDS]
    grams = set(toks)
    joined = " ".join(toks)
    grams.update(map("".join, zip(joined, joined[1:], joined[2:], joined[3:])))  # every 4 letters in a row
    return frozenset(grams)


def similarity(a: str, b: str) -> float:
    return jaccard(shingles(a), shingles(b))


STOPWORDS = frozenset(
    """a an the i me my we our you your it its is are was were be been am do does did
    to of in on at for with from by and or but if so as that this these those there here
    can could would should will shall may might must please pls plz thanks thank hi hello hey
    what when where which who how why not no yes ok okay just also too very really""".split()
)


def osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (an adjacent swap is one edit), stopping above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def deletions(word: str, depth: int) -> set[str]:
    """The strings ``word`` becomes with up to ``depth`` letters deleted (SymSpell's index keys)."""
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def typos_allowed(word: str) -> int:
    """Typing mistakes tolerated in a word of this length: none up to four letters, where one
    letter changes the meaning ("ant", "get"), one up to seven, then two."""
    return 0 if len(word) <= 4 else 1 if len(word) <= 7 else 2


class Vocabulary:
    """Words that matter, found again when typed with a mistake or two: a symmetric-deletion index
    (the idea of SymSpell) over the vocabulary, each candidate checked by its true distance. A
    typed word must keep its first letter (or swap it with the second: "eprson")."""

    def __init__(self, words: dict[str, str], never: frozenset[str] = frozenset(), swaps: bool = True,
                 most: int = 2):
        self.words = words  # word → what it stands for
        self.never = never  # real words that are not typos of a vocabulary word ("prison", "assistance")
        self.swaps = swaps  # whether the first two letters may be swapped ("eprson"; but "using" is not "suing")
        self.most = most  # typing mistakes tolerated at most, whatever the length
        index: dict[str, set[str]] = {}
        for w in words:
            for d in deletions(w, min(most, max(1, typos_allowed(w)))):
                index.setdefault(d, set()).add(w)
        # tuples of strings, which the garbage collector stops tracking (sets it walks at every full collection)
        self._index: dict[str, tuple[str, ...]] = {d: tuple(sorted(ws)) for d, ws in index.items()}
        self.lookup = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, typed: str) -> str | None:
        """The vocabulary word ``typed`` stands for, or None."""
        if typed in self.words:
            return typed
        if typed in self.never or len(typed) <= 4 or len(typed) > WORD:
            return None  # the deletions of a word grow with its length squared: no real word is that long
        limit = min(self.most, typos_allowed(typed))
        best: tuple[int, str] | None = None
        for d in deletions(typed, limit):
            for target in self._index.get(d, ()):
                if target[0] != typed[0] and not (self.swaps and target[:2] == typed[1::-1]):
                    continue
                allowed = min(limit, max(1, typos_allowed(target)))
                dist = osa_distance(typed, target, allowed)
                if dist <= allowed and (best is None or (dist, target) < best):
                    best = (dist, target)
        return best[1] if best else None
