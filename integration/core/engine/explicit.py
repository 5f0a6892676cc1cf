"""Explicit request for a human, in English, Spanish, French, German and Portuguese.

A request is a verb of contact ("talk to", "hablar con", "parler à", "sprechen mit",
"falar com", "connect me", "transfer me") near a human target ("agent", "human",
"representative", "alguien", "conseiller", "Mitarbeiter", "atendente"), or a short message that
is only a human target ("live agent", "operator please"). Negation and questions about the bot
("no need for an agent", "are you a bot?", "is this a real person?") are not requests.
"""
from __future__ import annotations

import re
from functools import lru_cache

from integration.core.engine.text import evidence_quote, fold, tokens
from integration.core.model import Conversation, Evidence, Finding, Role

# Human targets (folded: lower case, no accents).
_PEOPLE = r"""(?:
    (?:a\s+|an\s+|the\s+|your\s+|some\s+|one\s+of\s+your\s+|un\s+|una\s+|um\s+|uma\s+|une\s+|
       einem\s+|einer\s+|dem\s+|der\s+)?
    (?:real\s+|live\s+|actual\s+|human\s+|customer\s+(?:service|care|support)\s+|support\s+|service\s+|
       sales\s+|account\s+|senior\s+|chat\s+|echte[nmr]?\s+|echten\s+)?
    (?:human(?:\s+being)?s?|person|eprson|persn|someone|somneone|somone|somebody|some\s+one|any\s*one|
       agents?|agnet|agen|representatives?|assistant|
       executive|coustmer\s+executive|supervisor|manager|operator|advisor|adviser|specialist|
       customer\s+(?:service|care|support)|support\s+team|live\s+chat|call\s+cent(?:er|re)|
       humano|persona|alguien|agente|asesor|operadora?|representante|ejecutivo|
       atendente|pessoa|alguem|consultor|
       humain|personne|quelqu'un|conseill(?:er|ere)|operat(?:eur|rice)|
       mensch(?:en)?|mitarbeiter(?:in)?|berater(?:in)?|jemand(?:em|en)?|kundendienst|kundenservice|
       sachbearbeiter(?:in)?)
)"""
# Plain "support" is a person only after a verb of contact: "contact support" yes, "I need
# support with my login" no.
_TARGET = rf"(?:{_PEOPLE}|support)"

_CONTACT_VERB = r"""(?:
    talk(?:ing|k|int)?|speak(?:ing)?|spoke|chat(?:ting)?|connect(?:ing|ed)?|transfer(?:ring|red)?|
    put\s+me\s+through|escalat(?:e|ing)|contact(?:ing)?|reach(?:ing)?|call(?:ing)?|
    hablar|habla|comunicar(?:me)?|pasar(?:me)?|pasame|transferir(?:me)?|contactar|ponerme\s+en\s+contacto|
    parler|discuter|joindre|contacter|transferer|passer|mettre\s+en\s+relation|
    sprechen|reden|verbinden|verbinde|weiterleiten|kontaktieren|
    falar|conversar|transferir|passar\s+para
)"""
_WANT_VERB = r"""(?:
    get|give\s+me|need|want|request|prefer|can\s+i\s+have|is\s+the(?:re|r)|are\s+there|
    quiero|necesito|je\s+veux|je\s+voudrais|brauche|mochte|quero|preciso
)"""

_PATTERNS = tuple(
    re.compile(p, re.VERBOSE)
    for p in (
        # the whole message is a target or a bare contact word: "Live agent", "Talk", "Contact"
        rf"""^\W*(?:{_PEOPLE}|talk|contact|contact\s+us|call\s+me|call\s*back|agent\s+to\s+chat|
            chat\s+with\s+someone|(?:can|could|may)\s+i\s+(?:talk|speak|chat)\s+(?:to|with)\s+(?:you|someone))\W*(?:please|pls|plz|now|asap|bitte|por\s+favor)?\W*$""",
        # "talk to a human", "hablar con un agente", "parler à un conseiller"
        rf"\b{_CONTACT_VERB}\b(?:\W+\w+){{0,4}}?\W+{_TARGET}\b",
        # "I need an agent", "quiero un agente": the target right after the verb
        rf"\b{_WANT_VERB}\W+{_PEOPLE}\b",
        # German verb-last: "mit einem Mitarbeiter sprechen"
        rf"\bmit\s+{_PEOPLE}\s+(?:\w+\s+)?(?:sprechen|reden|chatten|verbinden|verbunden)\b",
        # target first: "agent please", "human to answer", "real person available"
        rf"""(?:^|[.!?]\s*){_PEOPLE}\W+(?:\w+\W+){{0,2}}?(?:please|pls|plz|now|asap|available|
            to\s+(?:answer|talk|chat|help)|to\s+chat|bitte|por\s+favor)\b""",
    )
)
# A negation governs the request when it stands in the three words before it, in the same clause:
# "I don't need an agent", "no necesito un agente", "pas besoin d'un conseiller".
_NEGATION = re.compile(
    r"""\b(?:no\s+need|need\s+no|don'?t|do\s+not|dont|doesn'?t|not|never|without|rather\s+not|instead\s+of|
    no\s+(?:necesito|quiero|hace\s+falta)|sin|pas\s+besoin|ne\s+veux\s+pas|sans|
    kein(?:en|e)?|nicht|ohne|nao|sem)\b""",
    re.VERBOSE,
)
# Questions about who the customer is talking to are not requests.
_ABOUT_BOT = re.compile(
    r"""\b(?:are\s+you|r\s+u|is\s+this|am\s+i\s+(?:talking|speaking|chatting)\s+(?:to|with))\s+
    (?:a\s+|an\s+)?(?:real\s+|live\s+|actual\s+)?(?:bot|robot|human|person|machine|ai|agent)\b|
    \b(?:eres|es)\s+(?:un\s+)?(?:bot|robot|humano|persona)\b|
    \b(?:es-tu|etes-vous|tu\s+es|vous\s+etes)\s+(?:un\s+)?(?:bot|robot|humain)\b|
    \b(?:bist\s+du|sind\s+sie)\s+(?:ein\s+)?(?:bot|roboter|mensch)\b|
    \b(?:voce\s+e|vc\s+e|e\s+um)\s+(?:um\s+)?(?:bot|robo|humano)\b""",
    re.VERBOSE,
)
_CLAUSE = re.compile(r"[,.;:!?]|\b(?:but|pero|mais|aber|mas)\b")


def _clause_before(folded: str, start: int) -> str:
    """The words of the same clause before ``start``: a negation reaches no further."""
    before = folded[max(0, start - 60) : start]
    cuts = [m.end() for m in _CLAUSE.finditer(before)]
    clause = before[cuts[-1]:] if cuts else before
    return " ".join(clause.split()[-3:])


@lru_cache(maxsize=16384)
def match_request(text: str) -> re.Match[str] | None:
    """The span of ``fold(text)`` that asks for a human, or None."""
    folded = fold(text)
    if len(tokens(text)) == 0:
        return None
    for pattern in _PATTERNS:
        for m in pattern.finditer(folded):
            if _NEGATION.search(_clause_before(folded, m.start())):
                continue
            if _ABOUT_BOT.search(folded[max(0, m.start() - 20) : m.end() + 5]):
                continue
            return m
    return None


def detect(conversation: Conversation, lookback: int = 2) -> Finding:
    """Fires when one of the last ``lookback`` customer messages asks for a human."""
    seen = 0
    for i in range(len(conversation.messages) - 1, -1, -1):
        msg = conversation.messages[i]
        if msg.role is not Role.CUSTOMER:
            continue
        m = match_request(msg.text)
        if m:
            ev = Evidence(i, evidence_quote(msg.text, m), 1.0, 1.0, "asks for a person")
            return Finding(
                "explicit_request", True, 1.0, 1.0,
                "The customer asked to talk to a person.", (ev,),
            )
        seen += 1
        if seen >= lookback:
            break
    return Finding(
        "explicit_request", False, 0.0, 1.0, "The customer has not asked for a person."
    )
