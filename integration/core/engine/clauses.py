"""A message as the explicit signal reads it: clauses of tokens, each token a word of the
lexicon (:mod:`.lexicon`) with its roles, where it stands in the text, and the languages that have
it. Latin-script words are looked up one by one (a mistyped word among the words of the message's
own languages), Chinese and Japanese runs are cut into the lexicon's words, the grammar's phrases
are joined into one token, separable verbs find their particle, and a word that means different
things in different languages takes the meaning of the language the message is written in.
Punctuation and words like "but" end a clause. Like the lexicon, this knows no word of any language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from integration.core.engine import lexicon
from integration.core.engine.lexicon import ANCHOR, BITS, BUT, CJK, COMP, FILLER, KEY, NEG, NUM, QPART, STOP
from integration.core.engine.lexicon import typo as _typo, word as _word

# the text as words, numbers, runs of Chinese or Japanese characters, and marks that end a clause
_TOKEN = re.compile(rf"(?P<w>[^\W\d_{CJK}]+(?:'[^\W\d_{CJK}]+)*'?)|(?P<n>\d+)|(?P<c>[{CJK}]+)|(?P<s>[,.;:!?()…。、\n])")


@dataclass(slots=True, eq=False)
class Token:
    word: str  # the grammar's form (a mistyped word is the word it stands for)
    tags: int
    start: int
    end: int
    cap: bool  # written with a capital (a personal name, in Latin script)
    langs: int = 0  # the languages whose grammar has this form
    typed: str = ""  # as written, when it differs from ``word``
    partner: "Token | None" = None  # the particle of a separable verb ("leiten … weiter")
    asked: bool = False  # the last word before a question mark: its clause is a question


def read_clauses(text: str, norm: str) -> list[list[Token]]:
    """The text as clauses of tokens: words looked up, mistyped words found in the message's own
    languages, phrases joined, separable verbs marked, and the roles of words whose languages
    disagree taken from the language the message is written in."""
    aligned = len(norm) == len(text)
    toks: list[Token] = []
    append = toks.append
    for m in _TOKEN.finditer(norm):
        kind = m.lastgroup
        if kind == "w":
            start, end = m.span()
            cap = aligned and text[start].isupper()
            for form, roles, langs in _word(m.group()):
                append(Token(form, roles, start, end, cap, langs))
        elif kind == "s":
            append(Token(m.group(), STOP, m.start(), m.end(), False))
        elif kind == "c":
            for word, start, end in _segment(m.group(), m.start()):
                roles, langs = lexicon.G.cjk.get(word, (0, 0))
                append(Token(word, roles, start, end, False, langs))
        else:
            start, end = m.span()
            glued = 0 < start and end < len(norm) and norm[start - 1].isalpha() and norm[end].isalpha()
            roles = lexicon.G.glued.get(m.group(), 0) if glued else 0  # "talk2human": a digit written for a word
            append(Token(m.group(), roles or (NUM if m.group() != "1" else FILLER), start, end, False))
    score = _languages(toks)
    if len(toks) <= 20 or any(t.tags & KEY for t in toks):
        top = max(score.values(), default=0)
        languages = sum(lang for lang, n in score.items() if n == top) if top else -1
        for t in toks:
            if not t.tags and not t.langs and t.word.isalpha() and t.word[0] not in _CJK_SET:
                found = _typo(t.word, languages)
                if found:
                    t.typed, t.word, t.tags, t.langs = t.word, found, lexicon.G.forms[found], lexicon.G.langs[found]
    toks = _phrases(toks)
    if lexicon.G.conflicts.keys() & {t.word for t in toks}:
        _resolve(toks, score)
    out: list[list[Token]] = []
    current: list[Token] = []
    n = len(toks)
    for i, t in enumerate(toks):
        tags = t.tags
        if tags & STOP:
            if t.word == "," and i + 1 < n and toks[i + 1].tags & COMP:
                continue  # "nie chcę, żeby mnie przełączano": one clause
            if current:
                if t.word == "?":
                    # the clause is a question; the word keeps its roles ("human resources?" is not
                    # "human" and a question particle, which would ask for a person)
                    current[-1].asked = True
                out.append(current)
                current = []
        elif tags & BUT and current:
            out.append(current)
            current = []
        else:
            current.append(t)
    if current:
        out.append(current)
    return out


def _languages(words: list[Token]) -> dict[int, int]:
    """How many of the message's words each language's grammar has."""
    score: dict[int, int] = {}
    for t in words:
        if t.langs:
            for low in BITS[t.langs]:
                score[low] = score.get(low, 0) + 1
    return score


_CJK_SET = frozenset(chr(c) for r in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
                     for c in range(r[0], r[1] + 1))


def _segment(run: str, offset: int) -> list[tuple[str, int, int]]:
    """Chinese or Japanese characters as words: the reading with the fewest characters left
    unknown, then the fewest words (人間|は|いらない, not 人間|はい|ら|ない)."""
    cjk, longest, n = lexicon.G.cjk, lexicon.G.cjk_longest, len(run)
    best: list[tuple[int, int, int]] = [(0, 0, 0)] + [(n + 1, n + 1, 0)] * n  # (unknown, words, size of the last word)
    for end in range(1, n + 1):
        for size in range(1, min(longest, end) + 1):
            known = run[end - size:end] in cjk
            if size > 1 and not known:
                continue
            u, w, _ = best[end - size]
            cand = (u + (0 if known else 1), w + 1, size)
            if cand[:2] < best[end][:2]:
                best[end] = cand
    out = []
    end = n
    while end > 0:
        size = best[end][2]
        out.append((run[end - size:end], offset + end - size, offset + end))
        end -= size
    out.reverse()
    return out


def _phrases(toks: list[Token]) -> list[Token]:
    """Join the grammar's phrases ("customer service", "is there", "am i talking to") into one
    token, and give separable verbs their role when their particle follows in the clause."""
    out: list[Token] = []
    pairs, separable = lexicon.G.pairs, lexicon.G.separable
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if i + 1 < n:
            nxt = toks[i + 1]
            found = pairs.get((t.word, nxt.word))
            if found is None and (t.typed or nxt.typed):
                found = pairs.get((t.typed or t.word, nxt.typed or nxt.word))
            if found:
                for words, roles, langs in found:
                    k = len(words)
                    if i + k <= n and all(words[j] in (toks[i + j].word, toks[i + j].typed) for j in range(2, k)):
                        out.append(Token(" ".join(words), roles, t.start, toks[i + k - 1].end, t.cap, langs))
                        i += k
                        break
                else:
                    out.append(t)
                    i += 1
                continue
        out.append(t)
        i += 1
    for i, t in enumerate(out):
        if t.word in separable:
            for particle, roles in separable[t.word]:
                for u in out[i + 1:i + 8]:
                    if u.tags & STOP:
                        break
                    if u.word == particle:
                        t.tags |= roles
                        t.partner = u
                        u.tags = (u.tags & ~(NEG | ANCHOR)) | FILLER
                        break
    return out


def _resolve(words: list[Token], score: dict[int, int]) -> None:
    """Where languages give a word different roles ("nem": Portuguese "nor", colloquial German
    "einem"; "transfere": a French past, a Portuguese present), keep the roles of the language
    the message is most written in."""
    for t in words:
        by = lexicon.G.conflicts.get(t.word)
        if by:
            best = max(by, key=lambda lang: (score.get(lang, 0), bin(by[lang]).count("1")))
            if score.get(best, 0) > 0:
                t.tags = by[best] | (t.tags & QPART)
