"""Explicit request for a person, and its opposite, a refusal of one, in every language that has a
grammar in ``grammar/<lang>.json`` (English, Spanish, Portuguese, French, German, Italian, Dutch,
Polish, Chinese, Japanese). Adding a language is adding its file and its tests: this module knows
no word of any language.

A grammar gives words their roles: people ("agent", "Mitarbeiter", "人工"), service desks
("customer service", "Kundendienst", "客服"), verbs of contact ("talk", "hablar"), of transfer
("pásame", "stellen … durch", "转"), of wanting, negations, machines ("bot"), questions of
existence ("is there", "gibt es", "有没有") and of identity ("are you", "あなたは … ですか"), with
inflections written as stems and endings, object pronouns written onto verbs ("derívame",
"passami") and separable verbs ("leiten Sie mich weiter"). Latin-script text is read word by word,
each word looked up exactly, then without an object pronoun, then split when words were typed
together ("talktoagent"), then within a typing mistake among the words of the message's own
languages; Chinese and Japanese are read on characters, as the grammar's words that leave the
fewest characters unknown. A message holding no word that means a person, a desk, a machine,
contact, a call or a transfer (most messages) is not read further.

Within one clause, a request is:

- a verb of contact, transfer, calling or wanting with a person or a desk in reach ("put me through
  to customer service", "pásame con un agente", "mit einem Mitarbeiter sprechen", "转人工");
  a verb of talking with a personal name ("can I talk to Maria Lopez?", "田中さんと話せますか");
- a transfer verb aimed at the customer ("transfer me", "derívame"), a callback ("call me"),
  escalating a case ("escala mi caso");
- a question whether a person is there ("is there a real person?", "¿hay alguien?", "有真人吗");
- a clause that is only a person or a desk ("human", "atención al cliente", "人工客服");
- a refusal of the bot ("I don't want a bot", "nie chcę rozmawiać z botem", "ボットとは話したくない").

A negation in scope turns a request into a refusal ("no me derives", "ich will nicht weitergeleitet
werden", "不要转人工", "オペレーターと話したくない"): a refusal is reported so that no signal escalates
the conversation against the customer's word. A negation of ability stays a request ("I can't reach
anyone"). A person spoken of as what the bot is ("are you a real person?", "you sound like a
human", "你是真人吗") is neither, and so is a person counted or owned ("a table for four people",
"my boss asked for the invoice").
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from integration.core.engine.text import deletions, osa_distance, quote
from integration.core.limits import WORD
from integration.core.model import Conversation, Evidence, Finding

GRAMMARS = Path(__file__).with_name("grammar")

# the roles a grammar gives its words (the JSON categories, in this order), one bit each
CATEGORIES = (
    "person", "service", "desk", "customer", "contact", "call", "callback", "transfer", "handoff", "escalate",
    "case", "want", "negation", "contrast", "inability", "nobody", "machine", "real", "polite", "me",
    "possessive", "exist", "exist_if_question", "identity", "identity_after", "question", "aux", "time",
    "about", "else", "off_menu", "number", "honorific", "preposition", "pronoun", "complementizer", "but",
    "help", "filler", "plain", "phone", "your",
)
_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}
(PERSON, SERVICE, DESK, CUSTOMER, CONTACT, CALL, CALLBACK, TRANSFER, HANDOFF, ESCALATE, CASE, WANT, NEG,
 CONTRAST, INABILITY, NOBODY, MACHINE, REAL, POLITE, ME, POSS, EXIST, EXISTQ, IDENT, IDENT_AFTER, QPART,
 AUX, TIME, ABOUT, ELSE, OFFMENU, NUM, HONORIFIC, PREP, PRONOUN, COMP, BUT, HELP, FILLER, PLAIN, PHONE, YOUR) = _BIT.values()
STOP = 1 << 49  # a mark that ends a clause
PAST = 1 << 50  # a past form ("talked", "gesprochen"): a request only after a want or an auxiliary
LATE = 1 << 51  # a verb that may follow its person ("mit einem Menschen sprechen", "オペレーターと話したい")

# what a category stands for beyond itself
_IMPLIES = {"handoff": TRANSFER | HANDOFF, "escalate": TRANSFER | HANDOFF | ESCALATE, "nobody": NOBODY,
            "callback": CALLBACK | CALL}
ANCHOR = CONTACT | CALL | TRANSFER | WANT | EXIST | EXISTQ | CALLBACK | OFFMENU
TARGET = PERSON | SERVICE | NOBODY | MACHINE
# words that may stand between a verb and its person without breaking the request
GAP = FILLER | REAL | POLITE | ME | CUSTOMER | PREP | AUX | COMP | HELP | QPART | PRONOUN | POSS | CASE | HONORIFIC | YOUR
# the roles without one of which a message asks for no one and refuses no one
TRIGGER = TARGET | DESK | CONTACT | CALL | CALLBACK | HANDOFF | OFFMENU | PHONE
KEY = PERSON | SERVICE | DESK | CONTACT | CALL | CALLBACK | TRANSFER | WANT | MACHINE | NOBODY | EXIST | IDENT | OFFMENU

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"(?P<w>[^\W\d_{_CJK}]+(?:'[^\W\d_{_CJK}]+)*'?)|(?P<n>\d+)|(?P<c>[{_CJK}]+)|(?P<s>[,.;:!?()…。、\n])")


def normalize(text: str) -> str:
    """Lower case, styled and full-width letters made plain, accents dropped from Latin letters
    only: the kana's voicing marks ("ボ" is not "ホ") stay."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").replace("‘", "'")
    return unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFD", text)))


# the combining accents of Latin, Greek and Cyrillic letters (not the kana's voicing marks)
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


@dataclass
class _Grammar:
    """Every grammar file read into one lexicon: each written form with its roles per language."""
    forms: dict[str, int]  # form → roles (of every language that has it)
    langs: dict[str, int]  # form → bit set of the languages that have it
    conflicts: dict[str, dict[int, int]]  # form → {language bit: roles} where languages disagree
    pairs: dict[tuple[str, str], list[tuple[tuple[str, ...], int, int]]]  # first two words → (words, roles, languages), longest first
    separable: dict[str, list[tuple[str, int]]]  # verb form → (particle, roles): "stellen … durch"
    clitics: tuple[tuple[str, tuple[str, ...]], ...]  # object pronoun endings and what a stem may have lost
    cjk: dict[str, tuple[int, int]]  # characters → (roles, languages)
    cjk_longest: int
    fuzzy: dict[str, tuple[str, ...]]  # deletion → forms (typing mistakes)
    never: frozenset[str]  # real words a typing mistake must not be read as
    languages: tuple[str, ...]
    triggers: frozenset[str]  # the words without one of which a long message cannot ask for anyone
    glued: dict[str, int]  # digits written for a word between letters ("talk2human")


def _expand(entry: str, paradigms: dict[str, list[str]]) -> list[tuple[str, int]]:
    """"stem:paradigm" → every form with its past flag ("!" marks a past ending); else the word."""
    if ":" not in entry:
        past = entry.endswith("!")
        return [(entry.rstrip("!"), PAST if past else 0)]
    stem, name = entry.split(":", 1)
    return [(stem + e.rstrip("!"), PAST if e.endswith("!") else 0) for e in paradigms[name]]


def _load() -> _Grammar:
    per_lang: dict[str, dict[int, int]] = {}
    phrases: dict[tuple[str, str], list[tuple[tuple[str, ...], int, int]]] = {}
    raw_phrases: list[tuple[str, int, int]] = []
    separable: dict[str, list[tuple[str, int]]] = {}
    clitics: list[tuple[str, tuple[str, ...]]] = []
    cjk: dict[str, tuple[int, int]] = {}
    never: set[str] = set()
    glued: dict[str, int] = {}
    typo_targets: set[str] = set()
    languages = []
    for index, path in enumerate(sorted(GRAMMARS.glob("*.json"))):
        g = json.loads(path.read_text(encoding="utf-8"))
        lang_bit = 1 << index
        languages.append(path.stem)
        paradigms = g.get("paradigms", {})
        late = set(g.get("verb_final", ()))
        present: set[str] = set()  # forms that are not only past ("chiamate": a past and an imperative)
        for category, entries in g["words"].items():
            roles = _BIT[category] | _IMPLIES.get(category, 0) | (LATE if category in late else 0)
            for entry in entries:
                for n, (raw, past) in enumerate(_expand(entry, paradigms)):
                    raw = normalize(raw)
                    r = roles | past
                    if any(_is_cjk(c) for c in raw):
                        old = cjk.get(raw, (0, 0))
                        cjk[raw] = (old[0] | r, old[1] | lang_bit)
                    elif " " in raw:
                        raw_phrases.append((raw, r, lang_bit))
                    else:
                        by = per_lang.setdefault(raw, {})
                        by[lang_bit] = by.get(lang_bit, 0) | r
                        if not past:
                            present.add(raw)
                        if category in ("person", "service", "desk", "contact", "call", "transfer", "handoff", "escalate",
                                        "want", "machine", "customer") and len(raw) >= 4 and not past and n == 0:
                            typo_targets.add(raw)
        for raw in present:
            per_lang[raw][lang_bit] &= ~PAST
        for verb, particle, category in g.get("separable", ()):
            roles = _BIT[category] | _IMPLIES.get(category, 0)
            for raw, past in _expand(verb, paradigms):
                separable.setdefault(normalize(raw), []).append((normalize(particle), roles | past))
        if g.get("clitics"):
            clitics.append((tuple(normalize(c) for c in g["clitics"]), tuple(g.get("clitic_restore", ()))))
        never.update(normalize(w) for w in g.get("never", ()))
        for digits, categories in g.get("glued_digits", {}).items():
            glued[digits] = glued.get(digits, 0) | _union(_BIT[c] for c in categories)
    forms = {w: _union(by.values()) for w, by in per_lang.items()}
    joined: dict[tuple[str, ...], tuple[int, int]] = {}
    for raw, r, lang_bit in raw_phrases:  # a phrase's words as the tokenizer reads them ("s'il" is "s'" "il")
        words = tuple(p for w in raw.split() for p in ((w,) if w in forms or "'" not in w.strip("'") else _elided(w)))
        old_r, old_langs = joined.get(words, (0, 0))
        joined[words] = (old_r | r, old_langs | lang_bit)  # "no eres": a negation and a question about the bot
    for words, (r, langs_) in joined.items():
        phrases.setdefault(words[:2], []).append((words, r, langs_))
    for first in phrases:
        phrases[first].sort(key=lambda p: -len(p[0]))
    triggers = {w for w, r in forms.items() if r & TRIGGER}
    common = FILLER | POLITE | NEG | ME | PRONOUN | HELP | WANT | PREP | POSS | REAL
    for words, (r, _) in joined.items():
        if r & TRIGGER and triggers.isdisjoint(words):
            # a phrase is there only if all its words are: its least common word stands for it
            triggers.add(max(words, key=lambda w: (not forms.get(w, 0) & common, len(w))))
    for verb, parts in separable.items():
        for particle, r in parts:
            if r & TRIGGER and verb not in triggers and particle not in triggers:
                triggers.add(max((verb, particle), key=lambda w: (not forms.get(w, 0) & common, len(w))))
    conflicts = {w: by for w, by in per_lang.items() if len(set(by.values())) > 1}
    langs = {w: _union(by) for w, by in per_lang.items()}
    index: dict[str, set[str]] = {}
    for w in typo_targets - never:
        for d in deletions(w, min(2, _typos_allowed(w))):
            index.setdefault(d, set()).add(w)
    # tuples of strings, which the garbage collector stops tracking, rather than 20,000 sets it
    # would walk through at every full collection
    fuzzy = {d: tuple(sorted(ws)) for d, ws in index.items()}
    merged = tuple((ending, restore) for endings, restore in clitics for ending in endings)
    return _Grammar(forms, langs, conflicts, phrases, separable, tuple(sorted(set(merged), key=lambda c: -len(c[0]))),
                    cjk, max((len(w) for w in cjk), default=1), fuzzy, frozenset(never), tuple(languages),
                    frozenset(triggers), glued)


def _union(values) -> int:
    out = 0
    for v in values:
        out |= v
    return out


def _elided(word: str) -> tuple[str, ...]:
    head, _, tail = word.partition("'")
    return (head + "'", *(_elided(tail) if "'" in tail.strip("'") else (tail,)))


def _typos_allowed(word: str) -> int:
    """Typing mistakes read in a word of this length: one up to nine letters, two after. Two in a
    shorter word too often make another real word ("verzonden" is not "verbinden")."""
    return 0 if len(word) <= 3 else 1 if len(word) <= 9 else 2


def _is_cjk(c: str) -> bool:
    """Kana or a Chinese character: words of these are read on characters, not between spaces."""
    return "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff"


G = _load()
LANGUAGES = frozenset(G.languages)  # the languages requests are read in
WORDS = frozenset(G.forms)  # every word of every grammar, as written there (Latin script, no accents)


@lru_cache(maxsize=65536)
def _typo(word: str, languages: int) -> str | None:
    """The grammar word ``word`` stands for when mistyped ("agnet", "spaek", "humn"), among the
    words of ``languages`` (the message's), or None. The first letter is kept (or swapped with the
    second); one mistake up to nine letters, two after; between four and five letters only a
    letter lost or doubled ("humn" is "human", "talkk" is "talk")."""
    if word in G.never or len(word) < 4 or len(word) > WORD:
        return None
    limit = _typos_allowed(word)
    best: tuple[int, str] | None = None
    for d in deletions(word, limit):
        for target in G.fuzzy.get(d, ()):
            if target[0] != word[0] and target[:2] != word[1::-1] or not G.langs[target] & languages:
                continue
            if len(word) == 4 and (len(target) != 5 or d != word) or len(target) == 4 and (len(word) != 5 or d != target):
                continue  # "humn" lost a letter of "human"; "talkk" has one more than "talk"
            allowed = min(limit, max(1, _typos_allowed(target)))
            dist = 1 if _one_edit(word, target) else osa_distance(word, target, allowed) if allowed > 1 else 2
            if dist <= allowed and (best is None or (dist, target) < best):
                best = (dist, target)
    return best[1] if best else None


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with one letter changed, lost, added, or two neighbours swapped."""
    la, lb = len(a), len(b)
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    if abs(la - lb) != 1:
        return False
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


@lru_cache(maxsize=65536)
def _word(word: str) -> tuple[tuple[str, int, int], ...]:
    """A Latin-script word as one or more (form, roles, languages): the word itself, a verb with
    an object pronoun written onto it ("pásame" → "pasa" + "me"), or words typed together
    ("talktoagent"). A word the grammar does not know comes back with no role (typing mistakes are
    looked for later, once the message's language is known)."""
    return tuple((form, roles, G.langs.get(form, 0)) for form, roles in _parts(word))


def _parts(word: str) -> tuple[tuple[str, int], ...]:
    roles = G.forms.get(word)
    if roles is not None:
        return ((word, roles),)
    if "'" in word:  # "l'assistenza", "d'humain", "n'escaladez": the elided word, then the rest
        head, _, tail = word.partition("'")
        if head and tail:
            return (*_parts(head + "'"), *_parts(tail))
        return _parts(word.strip("'")) if word.strip("'") else ((word, 0),)
    for ending, restore in G.clitics:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            stem = word[: -len(ending)]
            for candidate in (stem, *(stem + r for r in restore)):
                r = G.forms.get(candidate)
                if r is not None and r & (TRANSFER | CONTACT | CALL | WANT):
                    return ((candidate, r), (ending, G.forms.get(ending, 0) | ME))
    parts = _split(word)
    if parts:
        return parts
    return ((word, 0),)


def _split(word: str) -> tuple[tuple[str, int], ...] | None:
    """Words typed together, when every part is a grammar word and the last is not a mere filler
    ("personal" is not "person" + "al")."""
    if len(word) < 7 or len(word) > 30:
        return None
    best = _split_from(word, 4)
    if not best or not any(r & KEY for _, r in best) or not best[-1][1] & ~(FILLER | ME | PRONOUN | PREP):
        return None
    content = [r for _, r in best if r & ~(FILLER | ME | PRONOUN | PREP | POLITE)]
    if len(best) == 2 and len(content) < 2:
        return None  # "umschreiben" is not "um" + "schreiben"; "talktoagent", "customerservice" are two words
    return best


def _split_from(word: str, depth: int) -> tuple[tuple[str, int], ...] | None:
    forms = G.forms
    if word in forms:
        return ((word, forms[word]),)
    if depth == 0:
        return None
    for i in range(len(word) - 1, 0, -1):  # the longest head first
        head = word[:i]
        r = forms.get(head)
        if r is None:
            continue
        rest = _split_from(word[i:], depth - 1)
        if rest:
            return ((head, r), *rest)
    return None


_CONCEPTS = (("person", PERSON | SERVICE | NOBODY), ("contact", CONTACT | CALL | TRANSFER), ("want", WANT),
             ("negation", NEG), ("machine", MACHINE))


@lru_cache(maxsize=4096)
def concept(word: str) -> str | None:
    """What one word means here (person, contact, want, negation, machine), typing mistakes
    allowed in any language: "agnet" is a person."""
    parts = _parts(normalize(word))
    roles = parts[0][1] if len(parts) == 1 else 0
    if not roles and len(parts) == 1:
        found = _typo(parts[0][0], -1)
        roles = G.forms[found] if found else 0
    return next((name for name, bits in _CONCEPTS if roles & bits), None)


@dataclass(frozen=True)
class Match:
    refused: bool  # the customer said they do NOT want a person
    start: int  # character span in the normalized text, for the quote
    end: int


@dataclass(slots=True, eq=False)
class _Tok:
    word: str  # the grammar's form (a mistyped word is the word it stands for)
    tags: int
    start: int
    end: int
    cap: bool  # written with a capital (a personal name, in Latin script)
    langs: int = 0  # the languages whose grammar has this form
    typed: str = ""  # as written, when it differs from ``word``
    partner: "_Tok | None" = None  # the particle of a separable verb ("leiten … weiter")
    asked: bool = False  # the last word before a question mark: its clause is a question


def _tokens(text: str, norm: str) -> list[list[_Tok]]:
    """The text as clauses of tokens: words looked up, mistyped words found in the message's own
    languages, phrases joined, separable verbs marked, and the roles of words whose languages
    disagree taken from the language the message is written in."""
    aligned = len(norm) == len(text)
    toks: list[_Tok] = []
    append = toks.append
    for m in _TOKEN.finditer(norm):
        kind = m.lastgroup
        if kind == "w":
            start, end = m.span()
            cap = aligned and text[start].isupper()
            for form, roles, langs in _word(m.group()):
                append(_Tok(form, roles, start, end, cap, langs))
        elif kind == "s":
            append(_Tok(m.group(), STOP, m.start(), m.end(), False))
        elif kind == "c":
            for word, start, end in _segment(m.group(), m.start()):
                roles, langs = G.cjk.get(word, (0, 0))
                append(_Tok(word, roles, start, end, False, langs))
        else:
            start, end = m.span()
            glued = 0 < start and end < len(norm) and norm[start - 1].isalpha() and norm[end].isalpha()
            roles = G.glued.get(m.group(), 0) if glued else 0  # "talk2human": a digit written for a word
            append(_Tok(m.group(), roles or (NUM if m.group() != "1" else FILLER), start, end, False))
    score = _languages(toks)
    if len(toks) <= 20 or any(t.tags & KEY for t in toks):
        top = max(score.values(), default=0)
        languages = sum(lang for lang, n in score.items() if n == top) if top else -1
        for t in toks:
            if not t.tags and not t.langs and t.word.isalpha() and t.word[0] not in _CJK_SET:
                found = _typo(t.word, languages)
                if found:
                    t.typed, t.word, t.tags, t.langs = t.word, found, G.forms[found], G.langs[found]
    toks = _phrases(toks)
    if G.conflicts.keys() & {t.word for t in toks}:
        _resolve(toks, score)
    out: list[list[_Tok]] = []
    current: list[_Tok] = []
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


def _languages(words: list[_Tok]) -> dict[int, int]:
    """How many of the message's words each language's grammar has."""
    score: dict[int, int] = {}
    for t in words:
        if t.langs:
            for low in _BITS[t.langs]:
                score[low] = score.get(low, 0) + 1
    return score


_BITS = {mask: tuple(1 << i for i in range(len(G.languages)) if mask >> i & 1) for mask in range(1 << len(G.languages))}


_CJK_SET = frozenset(chr(c) for r in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
                     for c in range(r[0], r[1] + 1))


def _segment(run: str, offset: int) -> list[tuple[str, int, int]]:
    """Chinese or Japanese characters as words: the reading with the fewest characters left
    unknown, then the fewest words (人間|は|いらない, not 人間|はい|ら|ない)."""
    cjk, longest, n = G.cjk, G.cjk_longest, len(run)
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


def _phrases(toks: list[_Tok]) -> list[_Tok]:
    """Join the grammar's phrases ("customer service", "is there", "am i talking to") into one
    token, and give separable verbs their role when their particle follows in the clause."""
    out: list[_Tok] = []
    pairs, separable = G.pairs, G.separable
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
                        out.append(_Tok(" ".join(words), roles, t.start, toks[i + k - 1].end, t.cap, langs))
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


def _resolve(words: list[_Tok], score: dict[int, int]) -> None:
    """Where languages give a word different roles ("nem": Portuguese "nor", colloquial German
    "einem"; "transfere": a French past, a Portuguese present), keep the roles of the language
    the message is most written in."""
    for t in words:
        by = G.conflicts.get(t.word)
        if by:
            best = max(by, key=lambda lang: (score.get(lang, 0), bin(by[lang]).count("1")))
            if score.get(best, 0) > 0:
                t.tags = by[best] | (t.tags & QPART)


@dataclass(frozen=True)
class _Hit:
    refused: bool
    start: int
    end: int


def _mark(clause: list[_Tok]) -> tuple[list[bool], list[bool], list[bool]]:
    """Per token: spoken of as what the bot is ("are you a real person?"), counted or owned ("four
    people", "my boss"), a negation of a machine rather than of the request ("not a bot")."""
    n = len(clause)
    about = [False] * n
    blocked = [False] * n
    machine_neg = [False] * n
    for i, t in enumerate(clause):
        tags = t.tags
        if tags & IDENT:
            for j in range(i + 1, min(n, i + 7)):
                u = clause[j].tags
                if u & (PERSON | MACHINE | NOBODY | SERVICE):
                    about[j] = True
                elif u & ANCHOR and not u & (PERSON | MACHINE):
                    break
                elif not u & (GAP | NEG | CONTRAST) and u:
                    break
        if tags & IDENT_AFTER:
            for j in range(i - 1, max(-1, i - 5), -1):
                u = clause[j].tags
                if u & (PERSON | MACHINE | NOBODY | SERVICE):
                    about[j] = True
                elif not u & (GAP | NEG) and u:
                    break
        if tags & (NUM | POSS) and not tags & (PERSON | SERVICE):
            for j in range(i + 1, min(n, i + 3)):
                u = clause[j].tags
                if u & (PERSON | SERVICE):
                    blocked[j] = True
                    break
                if u & ~(FILLER | REAL | CUSTOMER) or not u:
                    break
        if tags & NEG:
            for j in range(i + 1, min(n, i + 4)):
                u = clause[j].tags
                if u & MACHINE:
                    machine_neg[i] = True
                    break
                if u & ~GAP or not u:
                    break
        if tags & CONTRAST and i > 0 and clause[i - 1].tags & MACHINE:
            machine_neg[i] = True
    return about, blocked, machine_neg


def _negation(clause: list[_Tok], a: int, b: int, machine_neg: list[bool]) -> tuple[bool, bool]:
    """(negated, unable) for a request spanning tokens a..b: a negation inside it, before it
    (through wants, pronouns after "que"/"dass", at most one other word; a new subject ends the
    reach: "I don't understand I want a human" asks), or just after it ("話したくない"). After it,
    in a language whose verbs do not come last, a negation says what a phone or a call did not do
    ("my phone isn't working", "the call never came", "mi teléfono no funciona"), and refuses
    only near a want ("operator not needed")."""
    neg = unable = False
    for k in range(a, b + 1):
        tags = clause[k].tags
        if tags & INABILITY:
            unable = True
        elif tags & NEG and not machine_neg[k] and k not in (a, b):
            neg = True
    other = 0
    k = a - 1
    while k >= 0 and a - k <= 7:
        tags = clause[k].tags
        if tags & INABILITY:
            unable = True
            break
        if tags & NEG and not machine_neg[k]:
            neg = True
            break
        if tags & PRONOUN and not tags & (ME | NEG) and not (k > 0 and clause[k - 1].tags & COMP):
            break
        if not tags & (GAP | WANT | ANCHOR | HELP) or not tags:
            other += 1
            if other > 1:
                break
        k -= 1
    for k in range(b + 1, min(len(clause), b + 4)):
        tags = clause[k].tags
        if tags & INABILITY:
            unable = True
        if tags & NEG and not machine_neg[k]:
            neg = neg or any(clause[j].tags & (LATE | WANT) for j in range(max(0, a - 3), min(len(clause), k + 2)))
            break
        if not tags & (GAP | WANT | TRANSFER) or not tags:
            break
    return neg, unable


def _name(clause: list[_Tok], j: int, step: int = 1) -> bool:
    """A personal name: a capitalized word the grammar does not know, never the first word; after
    a preposition or an honorific ("to Maria", "mit Herrn Müller"), or just before a verb that
    follows its person ("kan ik Jan de Vries spreken")."""
    t = clause[j]
    if j == 0 or not t.cap or t.tags & ~(PLAIN | QPART) or len(t.word) < 2:
        return False
    before = clause[j - 1].tags
    if before & (PREP | HONORIFIC) or step == -1 and before & PRONOUN:
        return True
    if j >= 2 and before & FILLER and not before & NEG:  # "to the Smiths", "Jan de Vries"
        earlier = clause[j - 2]
        return bool(earlier.tags & PREP) or step == -1 and earlier.cap and not earlier.tags
    return False


def _target(clause, i, step, about, blocked, allowed) -> int | None:
    """The person, desk or name a verb at ``i`` reaches, looking ahead (step 1) or back (step -1)."""
    n = len(clause)
    verb = clause[i].tags
    other = 0
    saw_about = False
    j = i + step
    while 0 <= j < n and abs(j - i) <= 7:
        t = clause[j]
        u = t.tags
        if about[j] or blocked[j]:
            return None
        if saw_about:
            return j if u & ELSE else None
        if u & TARGET:
            return j
        if u & DESK and verb & (CONTACT | TRANSFER) and not other:
            return j  # a desk right after the verb ("redirect me to support"), not "transfer my licence to another equipo"
        if u & CASE and verb & ESCALATE:
            return j
        if verb & CONTACT and _name(clause, j, step):
            return j
        if u & ABOUT:
            if verb & CONTACT and step == 1:
                saw_about = True
                j += step
                continue
            return None
        if u & TIME:
            return None
        if u & (ANCHOR | GAP | NEG | INABILITY | CONTRAST | IDENT_AFTER):
            j += step
            continue
        if not u and step == 1 and _titled(clause, j):
            j += step  # a name before its title: "王经理", "田中さん"
            continue
        other += 1
        if other > allowed:
            return None
        j += step
    return None


def _titled(clause: list[_Tok], j: int) -> bool:
    for k in range(j + 1, min(len(clause), j + 3)):
        u = clause[k].tags
        if u & HONORIFIC and u & PERSON:
            return True
        if u:
            return False
    return False


def _clause_hits(clause: list[_Tok], message_has_bot: bool) -> list[_Hit]:
    about, blocked, machine_neg = _mark(clause)
    n = len(clause)
    hits: list[_Hit] = []
    question = any(t.tags & QPART or t.asked for t in clause)
    for i, t in enumerate(clause):
        tags = t.tags
        if not tags & ANCHOR or about[i] or tags & IDENT:
            continue
        if tags & PAST and not _after_want(clause, i):
            continue
        if tags & EXISTQ and not tags & EXIST and not question:
            continue
        if tags & (OFFMENU | CALLBACK) and not tags & (CONTACT | TRANSFER):
            neg, unable = _negation(clause, i, i, machine_neg)
            hits.append(_Hit(neg and not unable, t.start, t.end))
            continue
        allowed = 1 if tags & (CONTACT | TRANSFER | CALL) else 0
        j = _target(clause, i, 1, about, blocked, allowed)
        if j is None and tags & LATE:
            j = _target(clause, i, -1, about, blocked, allowed)
        if j is None:
            if tags & (HANDOFF | CALL):
                b = clause.index(t.partner) if t.partner in clause else i
                neg, unable = _negation(clause, i, b, machine_neg)
                if neg and not unable:
                    hits.append(_Hit(True, _negation_start(clause, i), clause[b].end))
                elif not neg and _aimed_at_customer(clause, i, b):
                    hits.append(_Hit(False, t.start, clause[b].end))
            continue
        a, b = min(i, j), max(i, j)
        target = clause[j].tags
        neg, unable = _negation(clause, a, b, machine_neg)
        start = _negation_start(clause, a) if neg else clause[a].start
        if target & MACHINE and not target & PERSON:
            if neg:
                hits.append(_Hit(False, start, clause[b].end))  # refusing the bot is asking for a person
            continue
        if target & NOBODY:
            hits.append(_Hit(not (unable or tags & (EXIST | EXISTQ)), start, clause[b].end))
            continue
        refused = neg and not unable and not tags & (EXIST | EXISTQ)
        hits.append(_Hit(refused, start, clause[b].end))
    # a way to reach a person: "your phone number", "customer service number", "客服电话"
    for i, t in enumerate(clause):
        if t.tags & PHONE and not about[i] and (
                any(u.tags & (YOUR | SERVICE) for u in clause[max(0, i - 3):i])
                or any(u.tags & SERVICE for u in clause[i + 1:i + 4])):
            # only a negation before it refuses it ("I don't want your number"); after it, it says
            # the number does not work ("customer care number not available"), a complaint
            neg, unable = _negation(clause, i, i, machine_neg) if _negated_before(clause, i) else (False, False)
            hits.append(_Hit(neg and not unable, _negation_start(clause, i) if neg else t.start, t.end))
    # a negated machine on its own: "no bots please", "kein Bot", "不要机器人", "ロボットじゃなくて"
    for i, t in enumerate(clause):
        if t.tags & MACHINE and not about[i] and not any(u.tags & IDENT for u in clause):
            if (i > 0 and any(machine_neg[k] for k in range(max(0, i - 3), i))) or \
                    (i + 1 < n and clause[i + 1].tags & CONTRAST):
                hits.append(_Hit(False, clause[max(0, i - 1)].start, t.end))
    # only a person or a desk (and politeness, a want, a negation): "live agent", "人工客服", "no human please"
    if not hits and not message_has_bot and n <= 8:
        people = [k for k, u in enumerate(clause) if u.tags & (PERSON | SERVICE | NOBODY) and not about[k] and not blocked[k]]
        rest = [u for k, u in enumerate(clause) if k not in people]
        if people and all(u.tags & (GAP | NEG | WANT) and not u.tags & (IDENT | TIME | NUM) for u in rest):
            neg = any(u.tags & NEG and not machine_neg[k] for k, u in enumerate(clause)) or \
                any(clause[k].tags & NOBODY for k in people)
            hits.append(_Hit(neg, clause[0].start, clause[-1].end))
    return hits


def _negated_before(clause: list[_Tok], i: int) -> bool:
    return any(u.tags & NEG for u in clause[max(0, i - 6):i])


def _negation_start(clause: list[_Tok], a: int) -> int:
    """Where a refusal's quote starts: at its negation when it comes first ("no me derives")."""
    for k in range(a - 1, max(-1, a - 5), -1):
        if clause[k].tags & NEG:
            return clause[k].start
    return clause[a].start


def _aimed_at_customer(clause: list[_Tok], i: int, b: int) -> bool:
    """A transfer or a call with nothing after it but the customer and politeness: "transfer me",
    "derívame", "können Sie mich weiterleiten?", "call me back", "escalate this please"."""
    verb = clause[i].tags
    rest = [u.tags for k, u in enumerate(clause) if k > i and k != b]
    if any(not tags & (GAP | POLITE) or tags & (CUSTOMER | POSS) for tags in rest):
        return False
    near = clause[max(0, i - 2):min(len(clause), b + 3)]
    if any(u.tags & ME for u in near) or verb & ESCALATE:
        return True
    return all(u.tags & (POLITE | QPART) for k, u in enumerate(clause) if k not in (i, b))  # "bitte weiterleiten"


def _after_want(clause: list[_Tok], i: int) -> bool:
    """A past form asks only in "I want to be transferred", "quiero ser transferido"."""
    for k in range(i - 1, max(-1, i - 4), -1):
        tags = clause[k].tags
        if tags & (WANT | AUX):
            return True
        if not tags & (FILLER | NEG | ME | PRONOUN | COMP):
            return False
    return False


_WORDS = re.compile(rf"[^\W\d_{_CJK}]+(?:'[^\W\d_{_CJK}]+)*'?")
_ANY_CJK = re.compile(f"[{_CJK}]")


def _worth_reading(norm: str) -> bool:
    """Whether a message could ask for a person or refuse one at all: it must hold a word that
    means a person, a desk, a machine, a verb of contact, a call or a transfer, written as is, with
    an object pronoun on it, typed together with another or (in a message of a few words)
    mistyped. Most messages are about something else: they are not read further. Chinese and
    Japanese are always read."""
    if _ANY_CJK.search(norm):
        return True
    triggers, forms = G.triggers, G.forms
    words = _WORDS.findall(norm)
    unknown = []
    for w in words:
        if w in triggers:
            return True
        if w not in forms:
            unknown.append(w)
    for w in unknown:
        if any(roles & TRIGGER for _, roles, _ in _word(w)):  # "pásame", "l'assistenza", "talktoagent"
            return True
    if len(words) > 16:
        return False  # typing mistakes are looked for in short messages only
    return any(_typo(w, -1) in triggers for w in unknown if w.isalpha())


@lru_cache(maxsize=16384)
def analyse(text: str) -> tuple[Match | None, bool]:
    """(the request or refusal in ``text``, or None; whether a short message negates a person or a
    transfer without the grammar reading it as a refusal)."""
    norm = normalize(text)
    if not _worth_reading(norm):
        return None, False
    clauses = _tokens(text, norm)
    if not clauses:
        return None, False
    words = [t for c in clauses for t in c]
    message_has_bot = any(t.tags & (IDENT | IDENT_AFTER) for t in words) or any(
        t.tags & MACHINE for t in words)
    hits: list[_Hit] = []
    for clause in clauses:
        hits += _clause_hits(clause, message_has_bot)
    if not hits and len(words) <= 6 and not message_has_bot:
        # a verb of contact and nothing else to talk about: "Talk", "Contact", "Can I talk to you?"
        verbs = [t for t in words if t.tags & CONTACT and not t.tags & PAST and " " not in t.word]
        # a case or an order is something to talk about: "hablamos de mi pedido?" asks no one
        if verbs and all(t is verbs[0] or t.tags & (GAP | POLITE | WANT) and not t.tags & (NEG | IDENT | CASE) for t in words):
            hits.append(_Hit(False, verbs[0].start, verbs[0].end))
    if hits:
        last = hits[-1]
        return Match(last.refused, last.start, last.end), False
    negated_cue = len(words) <= 10 and any(t.tags & NEG for t in words) and any(
        t.tags & (PERSON | SERVICE | HANDOFF | CONTACT | CALL) for t in words)
    return None, negated_cue


@lru_cache(maxsize=16384)
def written_in(text: str) -> frozenset[str]:
    """The languages whose grammar has the most of the text's words, when at least two are:
    "die Bestellung ist angekommen, danke" is German. Empty when the words say nothing (Chinese
    and Japanese are told by their script elsewhere)."""
    score: dict[int, int] = {}
    for w in _WORDS.findall(normalize(text)):
        for _, _, langs in _word(w):
            for low in _BITS[langs] if langs else ():
                score[low] = score.get(low, 0) + 1
    top = max(score.values(), default=0)
    if top < 2:
        return frozenset()
    return frozenset(G.languages[low.bit_length() - 1] for low, n in score.items() if n == top)


def match(text: str) -> Match | None:
    """A request for a person (or a refusal of one) in ``text``, or None."""
    return analyse(text)[0]


def detect(conversation: Conversation, lookback: int = 2) -> Finding:
    """Fires when one of the last ``lookback`` customer messages asks for a person. When the
    latest of them refuses one instead, ``details["refused"]`` says so and quotes it; when the
    latest is a short message that negates a person or a transfer in words the grammar cannot
    parse, ``details["negated"]`` says so (the learned signal must not escalate it on its own)."""
    negated = False
    for seen, (i, msg) in enumerate(conversation.customer_messages_newest_first()):
        m, cue = analyse(msg.text)
        if seen == 0:
            negated = cue
        if m and m.refused and seen == 0:
            ev = Evidence(i, _quote(msg.text, m), 1.0, 1.0, "does not want a person")
            return Finding("explicit_request", False, 0.0, 1.0, "The customer said they do not want a person.",
                           (ev,), details={"refused": True})
        if m and not m.refused:
            ev = Evidence(i, _quote(msg.text, m), 1.0, 1.0, "asks for a person")
            return Finding("explicit_request", True, 1.0, 1.0, "The customer asked to talk to a person.", (ev,))
        if seen + 1 >= lookback:
            break
    return Finding("explicit_request", False, 0.0, 1.0, "The customer has not asked for a person.",
                   details={"negated": True} if negated else {})


def _quote(original: str, m: Match) -> str:
    # the normalized text has the original's length unless normalizing changed it (ligatures …)
    if len(normalize(original)) != len(original):
        return quote(original, 0, len(original))
    return quote(original, m.start, m.end)


def match_request(text: str) -> Match | None:
    """A request (not a refusal) for a person in ``text``: what other signals ask."""
    m = match(text)
    return m if m and not m.refused else None
