"""Which language the customer writes in (English, Spanish, French, German, Portuguese), from
function words; the customer's profile language wins when the helpdesk knows it."""
from __future__ import annotations

from functools import lru_cache

from integration.core.engine.text import tokens
from integration.core.model import Conversation, Evidence, Finding, Role
from integration.core.rules import LanguageRule

_PROFILES = {
    "en": "the and is are you i my to of it for with not this that have can what how please want need",
    "es": "el la los las y es son usted yo mi que de en por para con no un una quiero necesito hola como puedo gracias",
    "fr": "le la les et est sont vous je mon ma de du en pour avec ne pas un une veux besoin bonjour comment merci",
    "de": "der die das und ist sind sie ich mein meine zu von mit nicht ein eine mochte brauche hallo wie bitte danke",
    "pt": "o a os as e e voce eu meu minha que de em para com nao um uma quero preciso ola como obrigado",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _PROFILES.items()}


@lru_cache(maxsize=16384)
def guess(text: str) -> tuple[str | None, float]:
    toks = tokens(text)
    if not toks:
        return None, 0.0
    hits = {lang: sum(t in words for t in toks) for lang, words in _WORDS.items()}
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
    if not rule.bot_languages or lang is None or lang in rule.bot_languages:
        return Finding("language", False, 0.0, 1.0, f"Language: {lang or 'unknown'}.", details={"language": lang})
    return Finding(
        "language", True, 1.0, 1.0,
        f"The customer writes in {lang}, which the bot does not support ({', '.join(rule.bot_languages)}).",
        (Evidence(None, lang, 1.0, None, "language"),), details={"language": lang},
    )
