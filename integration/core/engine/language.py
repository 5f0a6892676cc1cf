"""Which language the customer writes in: by script for the scripts that name one (Chinese,
Japanese, Korean, Cyrillic, Arabic, Hebrew, Greek, Thai, Devanagari), else from function words
for the Latin-script languages Baton reads requests in (English, Spanish, Portuguese, French,
German, Italian, Dutch, Polish). The customer's profile language wins when the helpdesk knows it.

The languages requests are read in are those with a grammar (``lexicon.LANGUAGES``: the eight
above, Chinese and Japanese). Another language is said in the finding (``details["read"]``), so
the agent knows Baton could not look for an explicit request, and an admin's rule
(``language.unread_escalates``) can send such conversations to a person."""
from __future__ import annotations

import unicodedata
from functools import lru_cache

from integration.core.engine.lexicon import LANGUAGES
from integration.core.engine.text import tokens
from integration.core.model import Conversation, Evidence, Finding, Role
from integration.core.rules import LanguageRule

_PROFILES = {
    "en": "the and is are you i my to of it for with not this that have can what how please want need",
    "es": "el la los las y es son usted yo mi que de en por para con no un una quiero necesito hola como puedo gracias",
    "fr": "le la les et est sont vous je mon ma de du en pour avec ne pas un une veux besoin bonjour comment merci",
    "de": "der die das und ist sind sie ich mein meine zu von mit nicht ein eine mochte brauche hallo wie bitte danke",
    "pt": "o a os as e e voce eu meu minha que de em para com nao um uma quero preciso ola como obrigado",
    "it": "il lo la gli le e sono io mio mia che di in per con non un una voglio vorrei ciao come grazie posso",
    "nl": "de het een en is zijn ik mijn jij je u van met niet wil graag hallo hoe bedankt kan dit dat",
    "pl": "i w na z nie jest sa ja moj moja to do sie czy chce prosze dzien dobry jak dziekuje mam",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _PROFILES.items()}
_LANGS_OF: dict[str, tuple[str, ...]] = {}
for _lang, _set in _WORDS.items():
    for _w in _set:
        _LANGS_OF[_w] = (*_LANGS_OF.get(_w, ()), _lang)
READ = LANGUAGES  # the languages explicit requests are looked for in: one grammar file each
# Unicode character name prefixes → the language their script most likely means
_SCRIPTS = (("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("CJK", "zh"), ("HANGUL", "ko"), ("CYRILLIC", "ru"),
            ("ARABIC", "ar"), ("HEBREW", "he"), ("GREEK", "el"), ("THAI", "th"), ("DEVANAGARI", "hi"))


def _script(text: str) -> str | None:
    text = text[:500]
    if text.isascii():
        return None  # Latin letters: the function words decide
    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        if ord(ch) < 0x370:  # Latin, with its accents
            continue
        name = unicodedata.name(ch, "")
        for prefix, lang in _SCRIPTS:
            if name.startswith(prefix):
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not counts or sum(counts.values()) < letters / 3:
        return None
    if counts.get("ja"):  # kana beside kanji: Japanese
        return "ja"
    return max(counts, key=counts.__getitem__)


@lru_cache(maxsize=16384)
def guess(text: str) -> tuple[str | None, float]:
    by_script = _script(text)
    if by_script:
        return by_script, 1.0
    toks = tokens(text)
    if not toks:
        return None, 0.0
    hits = dict.fromkeys(_PROFILES, 0)
    for t in toks:
        for lang in _LANGS_OF.get(t, ()):
            hits[lang] += 1
    best = max(hits, key=lambda lang: (hits[lang], lang == "en"))
    if hits[best] == 0:
        return None, 0.0
    return best, hits[best] / len(toks)


def detect_language(conversation: Conversation) -> str | None:
    if conversation.customer.language:
        return conversation.customer.language.split("-")[0].lower()
    text = " ".join(m.text for m in conversation.messages if m.role is Role.CUSTOMER)
    return guess(text[-2000:])[0]


def detect(conversation: Conversation, rule: LanguageRule) -> Finding:
    lang = detect_language(conversation)
    read = lang is None or lang in READ
    details = {"language": lang, "read": read}
    if rule.bot_languages and lang is not None and lang not in rule.bot_languages:
        return Finding(
            "language", True, 1.0, 1.0,
            f"The customer writes in {lang}, which the bot does not support ({', '.join(rule.bot_languages)}).",
            (Evidence(None, lang, 1.0, None, "language"),), details=details,
        )
    if not read:
        summary = f"The customer writes in {lang}, a language Baton does not read requests for a person in."
        return Finding("language", rule.unread_escalates, 1.0 if rule.unread_escalates else 0.0, 1.0, summary,
                       (Evidence(None, lang, 1.0, None, "language"),) if rule.unread_escalates else (), details=details)
    return Finding("language", False, 0.0, 1.0, f"Language: {lang or 'unknown'}.", details=details)
