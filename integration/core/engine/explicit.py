"""Explicit request for a person, in English, Spanish, Portuguese, French, German, Italian, Dutch
and Polish; and its opposite, a refusal of one.

Words are matched as concepts, not strings: each word of the message is looked up (exactly, then
within one or two typing mistakes, then split when two or three words were typed together) in
small vocabularies of people ("agent", "human", "alguien", "Mitarbeiter", "operatore",
"medewerker", "konsultant" …), verbs of contact ("talk", "hablar", "parler", "sprechen",
"parlare", "praten", "rozmawiać" …), verbs of wanting and negations. A request is, within one
clause:

- a message that is only a person word (plus politeness): "live agent", "human", "handoff";
- a contact verb followed by a person: "talk to a human", "parlare con un operatore";
- a want verb followed by a person: "I need an agent", "chcę konsultanta";
- a person followed by please/now/available: "agent please";
- a refusal of the bot: "I don't want to talk to a bot", "no quiero hablar con una máquina";
- a question whether a person exists: "is there a real person?";
- a callback or a way out: "can someone call me", "give me a phone number", "email of a manager".

A negation in the three words before such a request turns it into a refusal ("I don't want to
talk to a human", "no quiero hablar con un humano"): a refusal is reported so that no signal
escalates the conversation against the customer's word. Questions about who the customer talks
to ("are you a bot?") are neither.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from integration.core.engine.text import Vocabulary, fold, quote
from integration.core.limits import WORD
from integration.core.model import Conversation, Evidence, Finding

PERSON = """
    human humans person someone somebody anyone anybody agent agents representative representatives rep
    operator supervisor manager boss staff employee advisor adviser consultant specialist assistant
    executive helpdesk handoff handover
    humano humana persona alguien agente asesor asesora operador operadora representante ejecutivo encargado
    pessoa alguem atendente consultor consultora gerente
    humain personne quelqu'un quelquun conseiller conseillere operateur operatrice responsable
    mensch menschen jemand jemanden jemandem mitarbeiter mitarbeiterin berater beraterin kundendienst
    kundenservice sachbearbeiter vorgesetzten chef
    umano persona qualcuno operatore operatrice assistente consulente responsabile
    mens persoon iemand medewerker medewerkster klantenservice
    czlowiek czlowieka czlowiekiem osoba osoby osobe ktos kogos konsultant konsultanta konsultantem pracownik
    pracownika pracownikiem doradca doradcy agenta
    """
CONTACT = """
    talk speak chat connect transfer contact reach call escalate touch
    hablar comunicar comunicarme pasar pasame transferir contactar llamar llamame
    falar conversar ligar transferir contatar chamar
    parler discuter joindre contacter transferer appeler passer
    sprechen reden chatten verbinden verbinde weiterleiten kontaktieren anrufen
    parlare contattare chiamare passare collegare mettere
    praten spreken bellen doorverbinden verbinden contacteren
    rozmawiac porozmawiac polaczyc polacz skontaktowac zadzwonic pogadac
    """
WANT = """
    want need get give request prefer like
    quiero necesito quisiera deseo
    quero preciso gostaria
    veux voudrais besoin souhaite
    will mochte brauche wunsche
    voglio vorrei bisogno
    wil wens nodig graag
    chce potrzebuje prosze poprosze
    """
NEGATION = """
    no not dont don't never without nobody none nothing doesnt isnt
    nunca sin ningun ninguna nada
    nao sem nenhum nenhuma
    pas ne jamais sans aucun
    nicht kein keine keinen keinem nie ohne
    non mai senza nessuno
    niet geen nooit zonder
    nie bez zaden zadnego
    """
MACHINE = "bot bots robot chatbot machine maquina machine ia ai automat automaatje robo computer"
POLITE = """please pls plz now asap urgently immediately available bitte por favor favor sil vous plait
    per piacere prego alsjeblieft aub here there one real live actual"""
WAY_OUT = ("your phone number", "your number", "number to call you", "customer service number", "support number",
           "call me", "call back", "callback", "call-back", "ring me", "email of a manager", "email for a manager",
           "email of your manager", "manager's email", "corporate email", "contact corporate", "speak to corporate",
           "talk to corporate", "su numero de telefono", "vuestro telefono", "seu telefone", "votre numero",
           "ihre telefonnummer", "il vostro numero", "jullie telefoonnummer", "wasz numer", "llamadme",
           "llameme", "me llamen", "me liguem", "rappelez-moi", "rufen sie mich", "richiamatemi", "bel me terug",
           "zadzwoncie do mnie")
# what the bot offers does not cover it: "none of these", "I want to talk about something else"
_OFF_MENU = re.compile(r"\b(?:talk|speak|chat)\s+(?:to\s+\w+\s+)?about\s+(?:something|anything)\s+else\b|"
                       r"\bnone\s+of\s+(?:these|those|the\s+above|them)\b|"
                       r"\b(?:my\s+)?(?:question|issue|problem)\s+is\s+not\s+(?:listed|in\s+the\s+list|there)\b")
FUNCTION = """to with a an the me my i you your us some one of for can could may please is there are be at on in
    con un una el la le les de du des mit einem einer dem der den die met een het di del della z ze
    do da com um uma mi mich moi ich io ik ja mnie""".split()


def _words(block: str) -> frozenset[str]:
    return frozenset(fold(w) for w in block.split())


_VOCAB = {"person": _words(PERSON), "contact": _words(CONTACT), "want": _words(WANT),
          "negation": _words(NEGATION), "machine": _words(MACHINE)}
_POLITE = _words(POLITE)
_KNOWN = frozenset().union(*_VOCAB.values(), _POLITE, FUNCTION)
# real words too close to a vocabulary word to be read as a misspelling of it ("prison" is not "person")
_NEVER = _words("""prison poison reason season lesson agenda agency urgent argent gent walk walking walked
    stalk chart chair shat hat cheat all tall ball fall wall hall mall calls rich beach contract contrast content
    context transit transport reached teach each seed weed feed deed read assistance assist reconnect disconnect
    connection contacts bit bet but bat boot boat about abort aboard sport supporter went wait watch""")
# "support", "service", "care" are people only in "customer support", "support team", or after a
# verb of contact ("contact support"); "I need support with my login" asks for no one
_SERVICE = frozenset("support service care servicio atendimento assistance kundendienst team equipo equipe".split())
_CUSTOMER = frozenset("customer cliente client clientes kunden klant".split())
_CLAUSE = re.compile(r"[,.;:!?()]|\b(?:but|pero|mais|aber|mas|ma|maar|ale|however)\b")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_ABOUT_BOT = re.compile(
    r"\b(?:are\s+you|r\s+u|is\s+this|am\s+i\s+(?:talking|speaking|chatting)\s+(?:to|with)|eres|es\s+usted|"
    r"es-tu|etes-vous|tu\s+es|vous\s+etes|bist\s+du|sind\s+sie|voce\s+e|vc\s+e|sei|sei\s+un|ben\s+je|bent\s+u|"
    r"jestes|czy\s+jestes)\s+(?:a\s+|an\s+|un\s+|une\s+|ein\s+|um\s+|een\s+)?(?:real\s+|live\s+)?"
    r"(?:bot|robot|human|person|machine|ai|humano|persona|humain|mensch|roboter|umano|mens|czlowiek)\b")


_FORMS: dict[str, str] = {}
for _concept, _words_ in _VOCAB.items():
    for _w in _words_:
        # verbs also as typed inflected ("talkint" is a mistyped "talking")
        for _form in ([_w, _w + "ing", _w + "ed", _w + _w[-1] + "ing"] if _concept in ("contact", "want") else [_w, _w + "s"]):
            _FORMS.setdefault(_form, _concept)
_FUZZY = Vocabulary(_FORMS, _NEVER)


# a run-together word worth splitting holds one of the words that matter
_INSIDE = re.compile("|".join(sorted((re.escape(w) for c in ("person", "contact", "want") for w in _VOCAB[c] if len(w) >= 4),
                                     key=len, reverse=True)))
_ENDINGS = ("ing", "ed", "es", "s", "en", "e")  # talking, connected, agents, sprechen …
# every vocabulary word with its common endings, and stems with a doubled last letter (chatting)
_EXACT: dict[str, str] = {}
for _concept, _words_ in reversed(list(_VOCAB.items())):
    for _w in _words_:
        for _base in (_w, _w[:-1] if _w.endswith("e") and len(_w) >= 5 else _w, _w + _w[-1]):
            for _ending in ("", *_ENDINGS):
                _EXACT[_base + _ending] = _concept
for _concept, _words_ in reversed(list(_VOCAB.items())):
    for _w in _words_:
        _EXACT[_w] = _concept  # a word itself always means what its own vocabulary says
_FOLLOW = frozenset("please pls plz now asap urgently immediately available bitte favor answer help".split())


@lru_cache(maxsize=65536)
def concept(word: str) -> str | None:
    """What a word means here (person, contact, want, negation, machine), typing mistakes allowed."""
    exact = _EXACT.get(word)
    if exact is not None or word in _KNOWN:
        return exact
    found = _FUZZY.lookup(word)
    return _FORMS[found] if found else None


@lru_cache(maxsize=65536)
def _split(word: str) -> tuple[str, ...]:
    """A run-together word as its parts when each part is a known word ("talktoagent")."""
    if len(word) < 7 or len(word) > WORD or word in _KNOWN or not _INSIDE.search(word):
        return (word,)
    for i in range(2, len(word) - 2):
        head, tail = word[:i], word[i:]
        if head in _KNOWN or (len(head) >= 5 and concept(head)):
            if tail in _KNOWN or (len(tail) >= 5 and concept(tail)):
                return (head, tail)
            rest = _split(tail)
            if len(rest) > 1:
                return (head, *rest)
    return (word,)


@dataclass(frozen=True)
class Match:
    refused: bool  # the customer said they do NOT want a person
    start: int  # character span in the folded text, for the quote
    end: int


def _clauses(folded: str) -> list[tuple[int, list[tuple[str, int, int]]]]:
    """The text's clauses, each as (start, [(word, start, end)]) with run-together words split."""
    out = []
    bounds = [0, *[m.end() for m in _CLAUSE.finditer(folded)], len(folded)]
    for a, b in zip(bounds, bounds[1:]):
        words = []
        for m in _WORD.finditer(folded, a, b):
            parts = _split(m.group())
            words += [(p, m.start(), m.end()) for p in parts]
        if words:
            out.append((a, words))
    return out


def _is(word: str, name: str) -> bool:
    return concept(word) == name


@lru_cache(maxsize=16384)
def match(text: str) -> Match | None:
    """A request for a person (or a refusal of one) in ``text``, or None."""
    folded = fold(text).replace("’", "'")
    if _ABOUT_BOT.search(folded) and not re.search(r"\b(?:real|live|actual)\b", folded):
        return None
    m = _OFF_MENU.search(folded)
    if m:
        return Match(False, m.start(), m.end())
    for phrase in WAY_OUT:
        i = folded.find(phrase)
        if i >= 0:
            negated = any(_is(w, "negation") for w, _, _ in _words_before(folded, i))
            return Match(negated, i, i + len(phrase))
    clauses = _clauses(folded)
    whole = [w for _, ws in clauses for w, _, _ in ws]
    content = [w for w in whole if w not in _POLITE and w not in FUNCTION]
    alone = content and len(content) <= 2 and all(_is(w, "person") for w in content)
    if alone or (len(content) == 1 and _is(content[0], "contact") and len(whole) <= 6):  # "Talk", "Can I talk to you"
        first = clauses[0][1][0]
        last = clauses[-1][1][-1]
        return Match(False, first[1], last[2])
    for _, ws in clauses:
        found = _in_clause(ws)
        if found:
            return found
    return None


def _words_before(folded: str, at: int) -> list[tuple[str, int, int]]:
    clause_start = max([0, *[m.end() for m in _CLAUSE.finditer(folded, 0, at)]])
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded, clause_start, at)][-3:]


def _kinds(ws: list[tuple[str, int, int]]) -> list[str | None]:
    kinds = [concept(w) for w, _, _ in ws]
    for i, (w, _, _) in enumerate(ws):
        if w in _SERVICE and ((i > 0 and ws[i - 1][0] in _CUSTOMER) or (i + 1 < len(ws) and ws[i + 1][0] == "team")):
            kinds[i] = "person"
        elif w in _SERVICE and i > 0 and kinds[i - 1] == "contact":
            kinds[i] = "person"  # "contact support"
    return kinds


def _in_clause(ws: list[tuple[str, int, int]]) -> Match | None:
    kinds = _kinds(ws)
    for i, kind in enumerate(kinds):
        if kind not in ("contact", "want", "person"):
            continue
        reach = 6 if kind == "contact" else 4
        ahead = kinds[i + 1:i + 1 + reach]
        target = None
        if kind in ("contact", "want") and "person" in ahead:
            target = i + 1 + ahead.index("person")
        elif kind in ("contact", "want") and "machine" in ahead:
            # "I don't want to talk to a bot": a refusal of the bot is a request for a person
            j = i + 1 + ahead.index("machine")
            before = kinds[max(0, i - 3):i]
            if "negation" in before:
                return Match(False, ws[max(0, i - 3)][1], ws[j][2])
            continue
        elif kind == "person" and i + 1 < len(ws) and ws[i + 1][0] in _FOLLOW:
            target = i + 1  # "agent please"
        elif kind == "person" and "want" in kinds[i + 1:i + 3]:
            target = i + 1 + kinds[i + 1:i + 3].index("want")  # verb last: "een medewerker nodig"
        elif kind == "person" and "contact" in kinds[i + 1:i + 3]:
            target = i + 1 + kinds[i + 1:i + 3].index("contact")  # "live person to talk", "agent to chat"
        elif kind == "person" and i + 2 < len(ws) and ws[i + 1][0] == "to" and ws[i + 2][0] in _FOLLOW:
            target = i + 2  # "human to answer"
        if target is None:
            continue
        before = kinds[max(0, i - 3):i]
        refused = "negation" in before or "negation" in kinds[i + 1:target]  # "brauche keinen Mitarbeiter"
        start = ws[max(0, i - 3)][1] if "negation" in before else ws[i][1]
        return Match(refused, start, ws[target][2])
    return None


def detect(conversation: Conversation, lookback: int = 2) -> Finding:
    """Fires when one of the last ``lookback`` customer messages asks for a person. When the
    latest of them refuses one instead, ``details["refused"]`` says so and quotes it."""
    for seen, (i, msg) in enumerate(conversation.customer_messages_newest_first()):
        m = match(msg.text)
        if m and m.refused and seen == 0:
            ev = Evidence(i, _quote(msg.text, m), 1.0, 1.0, "does not want a person")
            return Finding("explicit_request", False, 0.0, 1.0, "The customer said they do not want a person.",
                           (ev,), details={"refused": True})
        if m and not m.refused:
            ev = Evidence(i, _quote(msg.text, m), 1.0, 1.0, "asks for a person")
            return Finding("explicit_request", True, 1.0, 1.0, "The customer asked to talk to a person.", (ev,))
        if seen + 1 >= lookback:
            break
    return Finding("explicit_request", False, 0.0, 1.0, "The customer has not asked for a person.")


def _quote(original: str, m: Match) -> str:
    # the folded text has the original's length unless folding changed it (ligatures …)
    if len(fold(original)) != len(original):
        return quote(original, 0, len(original))
    return quote(original, m.start, m.end)


def match_request(text: str) -> Match | None:
    """A request (not a refusal) for a person in ``text``: what other signals ask."""
    m = match(text)
    return m if m and not m.refused else None
