"""The explicit signal's lexicon: every grammar file (``grammar/<lang>.json``) read into one table
of written forms and the roles they play, and the ways a Latin-script word is found in it: as
written, with an object pronoun on it ("pásame"), typed together with others ("talktoagent"), or
mistyped among the words of the message's languages ("agnet"). Chinese and Japanese words are kept
apart, to be read on characters. This module, like :mod:`.explicit` which reads clauses with it,
knows no word of any language: adding a language is adding its file.

The roles are bits (``PERSON``, ``CONTACT``, ``NEG`` …), one per category a grammar file may list,
so that a word with several roles is one integer and a clause's roles are tested by masks.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from integration.core.engine.text import deletions, osa_distance
from integration.core.limits import WORD

GRAMMARS = Path(__file__).with_name("grammar")

# the roles a grammar gives its words (the JSON categories, in this order), one bit each
CATEGORIES = (
    "person", "service", "desk", "customer", "contact", "call", "callback", "transfer", "handoff", "escalate",
    "case", "want", "negation", "contrast", "inability", "nobody", "machine", "real", "polite", "me",
    "possessive", "exist", "exist_if_question", "identity", "identity_after", "question", "aux", "time",
    "about", "else", "off_menu", "number", "honorific", "preposition", "pronoun", "complementizer", "but",
    "help", "filler", "plain", "phone", "your", "done", "no_need", "nobody_subject",
)
_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}
(PERSON, SERVICE, DESK, CUSTOMER, CONTACT, CALL, CALLBACK, TRANSFER, HANDOFF, ESCALATE, CASE, WANT, NEG,
 CONTRAST, INABILITY, NOBODY, MACHINE, REAL, POLITE, ME, POSS, EXIST, EXISTQ, IDENT, IDENT_AFTER, QPART,
 AUX, TIME, ABOUT, ELSE, OFFMENU, NUM, HONORIFIC, PREP, PRONOUN, COMP, BUT, HELP, FILLER, PLAIN, PHONE, YOUR,
 DONE, NO_NEED, NOBODY_SUBJ) = _BIT.values()
STOP = 1 << 49  # a mark that ends a clause
PAST = 1 << 50  # a past form ("talked", "gesprochen"): a request only after a want or an auxiliary
MOOD = 1 << 52  # a subjunctive or imperative form ("pases", "transfiram"): what is wished, never what did not happen
LATE = 1 << 51  # a verb that may follow its person ("mit einem Menschen sprechen", "オペレーターと話したい")

# what a category stands for beyond itself
_IMPLIES = {"handoff": TRANSFER | HANDOFF, "escalate": TRANSFER | HANDOFF | ESCALATE, "nobody": NOBODY,
            "nobody_subject": NOBODY,
            "callback": CALLBACK | CALL}
ANCHOR = CONTACT | CALL | TRANSFER | WANT | EXIST | EXISTQ | CALLBACK | OFFMENU
TARGET = PERSON | SERVICE | NOBODY | MACHINE
# words that may stand between a verb and its person without breaking the request
GAP = FILLER | REAL | POLITE | ME | CUSTOMER | PREP | AUX | COMP | HELP | QPART | PRONOUN | POSS | CASE | HONORIFIC | YOUR | DONE
# the roles without one of which a message asks for no one and refuses no one
TRIGGER = TARGET | DESK | CONTACT | CALL | CALLBACK | HANDOFF | OFFMENU | PHONE
KEY = PERSON | SERVICE | DESK | CONTACT | CALL | CALLBACK | TRANSFER | WANT | MACHINE | NOBODY | EXIST | IDENT | OFFMENU

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


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
    """"stem:paradigm" → every form with its flags ("!" marks a past ending, "^" a subjunctive or
    imperative one); else the word."""
    if ":" not in entry:
        return [(entry.rstrip("!^"), _FLAGS.get(entry[-1:], 0))]
    stem, name = entry.split(":", 1)
    return [(stem + e.rstrip("!^"), _FLAGS.get(e[-1:], 0)) for e in paradigms[name]]


_FLAGS = {"!": PAST, "^": MOOD}


def load() -> _Grammar:
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
                    past &= PAST
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
                        if category in ("person", "service", "desk", "contact", "call", "transfer", "handoff", "escalate", "nobody",
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


G = load()
LANGUAGES = frozenset(G.languages)  # the languages requests are read in
WORDS = frozenset(G.forms)  # every word of every grammar, as written there (Latin script, no accents)


@lru_cache(maxsize=65536)
def typo(word: str, languages: int) -> str | None:
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
def word(word: str) -> tuple[tuple[str, int, int], ...]:
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
    if any(len(w) == 1 and r & ~(FILLER | ME | PRONOUN | PREP) for w, r in best):
        return None  # "wondering" is not "wo" + "n" (a negation) + "de" + "ring"
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
        found = typo(parts[0][0], -1)
        roles = G.forms[found] if found else 0
    return next((name for name, bits in _CONCEPTS if roles & bits), None)


BITS = {mask: tuple(1 << i for i in range(len(G.languages)) if mask >> i & 1) for mask in range(1 << len(G.languages))}
LATIN_WORD = re.compile(rf"[^\W\d_{CJK}]+(?:'[^\W\d_{CJK}]+)*'?")


@lru_cache(maxsize=16384)
def written_in(text: str) -> frozenset[str]:
    """The languages whose grammar has the most of the text's words, when at least two are:
    "die Bestellung ist angekommen, danke" is German. Empty when the words say nothing (Chinese
    and Japanese are told by their script elsewhere)."""
    score: dict[int, int] = {}
    for w in LATIN_WORD.findall(normalize(text)):
        for _, _, langs in word(w):
            for low in BITS[langs] if langs else ():
                score[low] = score.get(low, 0) + 1
    top = max(score.values(), default=0)
    if top < 2:
        return frozenset()
    return frozenset(G.languages[low.bit_length() - 1] for low, n in score.items() if n == top)
