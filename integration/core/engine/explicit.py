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
fewest characters unknown (the words and their roles: :mod:`.lexicon`; the text cut into clauses
of them: :mod:`.clauses`). A message holding no word that means a person, a desk, a machine,
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
anyone"), and so does a complaint that no person was reached: a negated contact, call or transfer
that did not happen (a past form, a perfect auxiliary, "没", "ていない": "I have not spoken to a
human yet", "nunca me pasaron con un humano") or no one as the one who did not answer ("nobody has
called me back", "personne ne m'a répondu", "没人理我"); a want or a needlessness near it ("I didn't
want to talk to anyone", "pas besoin") or a subjunctive ("todavía no me pases") keeps it a refusal. A person spoken of as what the bot is ("are you a real person?", "you sound like a
human", "你是真人吗") is neither, and so is a person counted or owned ("a table for four people",
"my boss asked for the invoice").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from integration.core.engine import lexicon
from integration.core.engine.clauses import Token, read_clauses
from integration.core.engine.lexicon import (
    ABOUT, ANCHOR, AUX, CALL, CALLBACK, CASE, CJK, COMP, CONTACT, CONTRAST, CUSTOMER, DESK, DONE, ELSE, ESCALATE, EXIST, EXISTQ,
    FILLER, GAP, HANDOFF, HELP, HONORIFIC, IDENT, IDENT_AFTER, INABILITY, LATE, LATIN_WORD, MACHINE, ME, MOOD, NEG, NO_NEED, NOBODY, NOBODY_SUBJ, NUM,
    OFFMENU, PAST, PERSON, PHONE, PLAIN, POLITE, POSS, PREP, PRONOUN, QPART, REAL, SERVICE, TARGET, TIME, TRANSFER,
    TRIGGER, WANT, YOUR, normalize,
)
from integration.core.engine.lexicon import concept, written_in  # noqa: F401  (what the signal tells of one word, one text)
from integration.core.engine.lexicon import typo as _typo, word as _word
from integration.core.engine.text import quote
from integration.core.model import Conversation, Evidence, Finding


@dataclass(frozen=True)
class Match:
    refused: bool  # the customer said they do NOT want a person
    start: int  # character span in the normalized text, for the quote
    end: int


@dataclass(frozen=True)
class _Hit:
    refused: bool
    start: int
    end: int


def _mark(clause: list[Token]) -> tuple[list[bool], list[bool], list[bool]]:
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


def _negation(clause: list[Token], a: int, b: int, machine_neg: list[bool]) -> tuple[bool, bool]:
    return _negation_at(clause, a, b, machine_neg)[:2]


def _negation_at(clause: list[Token], a: int, b: int, machine_neg: list[bool]) -> tuple[bool, bool, int]:
    """(negated, unable, where the negation is or -1) for a request spanning tokens a..b: a negation inside it, before it
    (through wants, pronouns after "que"/"dass", at most one other word; a new subject ends the
    reach: "I don't understand I want a human" asks), or just after it ("話したくない"). After it,
    in a language whose verbs do not come last, a negation says what a phone or a call did not do
    ("my phone isn't working", "the call never came", "mi teléfono no funciona"), and refuses
    only near a want ("operator not needed")."""
    neg = unable = False
    where = -1
    for k in range(a, b + 1):
        tags = clause[k].tags
        if tags & INABILITY:
            unable = True
        elif tags & NEG and not machine_neg[k] and k not in (a, b):
            neg = True
            where = k if where < 0 else where
    other = 0
    k = a - 1
    while k >= 0 and a - k <= 7:
        tags = clause[k].tags
        if tags & INABILITY:
            unable = True
            break
        if tags & NEG and not machine_neg[k]:
            neg = True
            where = k
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
            late = any(clause[j].tags & (LATE | WANT) for j in range(max(0, a - 3), min(len(clause), k + 2)))
            if late and where < 0:
                where = k
            neg = neg or late
            break
        if not tags & (GAP | WANT | TRANSFER | DONE) or not tags:
            break
    return neg, unable, where


def _name(clause: list[Token], j: int, step: int = 1) -> bool:
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


def _titled(clause: list[Token], j: int) -> bool:
    for k in range(j + 1, min(len(clause), j + 3)):
        u = clause[k].tags
        if u & HONORIFIC and u & PERSON:
            return True
        if u:
            return False
    return False


def _clause_hits(clause: list[Token], message_has_bot: bool) -> list[_Hit]:
    about, blocked, machine_neg = _mark(clause)
    n = len(clause)
    hits: list[_Hit] = []
    question = any(t.tags & QPART or t.asked for t in clause)
    for i, t in enumerate(clause):
        tags = t.tags
        if not tags & ANCHOR or about[i] or tags & IDENT:
            continue
        # a past form asks only after a want ("I want to be transferred"), or in a complaint that
        # it did not happen ("you never transferred me", "ich habe mit keinem Menschen gesprochen")
        past = bool(tags & PAST) and not _after_want(clause, i)
        if tags & EXISTQ and not tags & EXIST and not question:
            continue
        if tags & (OFFMENU | CALLBACK) and not tags & (CONTACT | TRANSFER):
            neg, unable, where = _negation_at(clause, i, i, machine_neg)
            complaint = neg and not unable and _done(clause, i, i, i, where)
            if not past or complaint:
                hits.append(_Hit(neg and not unable and not complaint, t.start, t.end))
            continue
        allowed = 1 if tags & (CONTACT | TRANSFER | CALL) else 0
        j = _target(clause, i, 1, about, blocked, allowed)
        if j is None and tags & LATE:
            j = _target(clause, i, -1, about, blocked, allowed)
        if j is None:
            if tags & (HANDOFF | CALL):
                b = clause.index(t.partner) if t.partner in clause else i
                neg, unable, where = _negation_at(clause, i, b, machine_neg)
                if neg and not unable:
                    if _done(clause, i, i, b, where) and not _someone_else(clause, min(i, where)):
                        # "Sie haben mich nicht weitergeleitet", not "my phone didn't ring"
                        hits.append(_Hit(False, _negation_start(clause, i), clause[b].end))
                    elif not past:
                        hits.append(_Hit(True, _negation_start(clause, i), clause[b].end))
                elif not neg and not past and _aimed_at_customer(clause, i, b):
                    hits.append(_Hit(False, t.start, clause[b].end))
            continue
        a, b = min(i, j), max(i, j)
        target = clause[j].tags
        neg, unable, where = _negation_at(clause, a, b, machine_neg)
        start = _negation_start(clause, a) if neg else clause[a].start
        if target & MACHINE and not target & PERSON:
            if neg and not past:
                hits.append(_Hit(False, start, clause[b].end))  # refusing the bot is asking for a person
            continue
        # a contact that did not happen is a complaint, and asks: "I have not spoken to a human yet",
        # "I talked to no one", "nunca me pasaron con un humano", "还没有转人工"
        complaint = not unable and (neg or target & NOBODY) and _done(clause, i, a, b, where if neg else j)
        if target & NOBODY_SUBJ and j > 0 and not clause[j - 1].tags & PREP and not _wanted(clause, a, b):
            complaint = True  # no one as the one who does not answer: "es antwortet einfach niemand", "没人理我"
        if past and not complaint:
            continue
        if target & NOBODY:
            hits.append(_Hit(not (unable or complaint or tags & (EXIST | EXISTQ)), start, clause[b].end))
            continue
        refused = neg and not unable and not complaint and not tags & (EXIST | EXISTQ)
        hits.append(_Hit(refused, start, clause[b].end))
    hits += _no_one_answered(clause, machine_neg)
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
        if people and all(u.tags & (GAP | NEG | WANT | DONE) and not u.tags & (IDENT | TIME | NUM) for u in rest):
            neg = any(u.tags & NEG and not machine_neg[k] for k, u in enumerate(clause)) or \
                any(clause[k].tags & NOBODY for k in people)
            done = not any(u.tags & WANT and not u.tags & DONE or u.tags & NO_NEED for u in rest) and \
                any(u.tags & DONE for u in clause)
            # "still no agent", "todavía ningún humano", "还是没有人工": a complaint, it asks
            hits.append(_Hit(neg and not done, clause[0].start, clause[-1].end))
    return hits


def _done(clause: list[Token], i: int, a: int, b: int, where: int) -> bool:
    """Whether a negated contact, call or transfer (verb at ``i``, spanning ``a``..``b``, negation
    at ``where``) is one that did not happen rather than one refused: a past form of the verb, or a
    word of what has (not) happened ("didn't", "have not", "yet", "todavía", "没", "まだ", "ていない")
    from the negation through the verb, just before or just after, and no want or needlessness
    between ("I didn't want to talk to anyone", "je n'ai pas besoin de parler à quelqu'un" refuse)."""
    lo, hi = min(a, where) if where >= 0 else a, max(b, where)
    if _wanted(clause, lo, hi) or clause[i].tags & MOOD:  # "todavía no me pases con un agente" refuses
        return False
    start = max(0, lo - 3)  # "seit 2 Tagen ruft mich keiner an"
    # after the verb only in a language whose verbs come last ("話せていない"): "ne me transférez pas
    # encore" refuses, "pas encore parlé à un humain" complains
    return any((u.tags & DONE and (k <= hi or u.tags & LATE)) or u.tags & PAST and u.tags & ANCHOR and not _after_want(clause, k)
               for k, u in enumerate(clause[start:hi + 4], start))


def _someone_else(clause: list[Token], before: int) -> bool:
    """Whether the clause speaks of something other than the company's people before ``before``
    ("the courier never called me", "my phone didn't ring"): not a complaint of no person."""
    for u in clause[:before]:
        if not u.tags or u.tags & (PHONE | MACHINE | POSS):
            return True
        if not u.tags & FILLER:
            return False  # its subject is the customer, "you", the company's people
    return False


def _wanted(clause: list[Token], lo: int, hi: int) -> bool:
    """A want or a needlessness just before or within tokens lo..hi, or after them in a language
    whose verbs come last ("話したくない"): what follows is refused, not missed."""
    start = max(0, lo - 3)
    return any((u.tags & WANT and not u.tags & (DONE | ME) or u.tags & NO_NEED) and (k <= hi or u.tags & LATE)
               for k, u in enumerate(clause[start:hi + 4], start))


def _no_one_answered(clause: list[Token], machine_neg: list[bool]) -> list[_Hit]:
    """No one, or no person, as the one who did not answer, call or help: "nobody has called me
    back", "no agent answered my chat", "nadie me atiende", "personne ne m'a répondu", "没人理我",
    "誰も返事してくれない". A complaint: it asks for a person. A want near it refuses
    instead ("I want no one to call me", "nobody needs to call me", "誰とも話したくない"), and a person after
    a preposition is not the one who answers ("nie musisz mnie z nikim łączyć")."""
    hits = []
    n = len(clause)
    for i, t in enumerate(clause):
        if not t.tags & (CONTACT | CALL | TRANSFER | HELP) or t.tags & (WANT | EXIST):
            continue
        k, other = i - 1, 0
        while k >= 0 and i - k <= 6:
            u = clause[k].tags
            if u & WANT and not u & DONE or u & NO_NEED:
                break
            if u & (NOBODY | PERSON | SERVICE) and not u & (MACHINE | IDENT):
                if u & PREP or k > 0 and clause[k - 1].tags & PREP and u & NOBODY:
                    break  # "with no one", "誰とも": not the one who answers
                if k > 0 and clause[k - 1].tags & PREP:
                    k -= 1  # "nikt z obsługi klienta", "nobody from support": who, from where
                    continue
                negated = bool(u & NOBODY) or any(
                    clause[m].tags & NEG and not machine_neg[m] for m in range(max(0, k - 2), i) if m != k)
                if not negated:
                    k -= 1  # "nessuno dell'assistenza clienti": the desk the no one is from
                    continue
                lo = max(0, k - 4)
                done = t.tags & PAST or any(clause[m].tags & DONE for m in range(lo, min(n, i + 4))) or \
                    any(clause[m].tags & ME for m in range(k + 1, min(n, i + 2)))  # "ningún asesor me llamó"
                wanted = any((clause[m].tags & WANT and not clause[m].tags & DONE or clause[m].tags & NO_NEED)
                             and (m < i or clause[m].tags & LATE)
                             for m in range(lo, min(n, i + 4)))
                if negated and not wanted and (done or u & NOBODY and not t.tags & HELP):
                    hits.append(_Hit(False, clause[k].start, t.end))
                break
            if not u & (GAP | NEG | DONE | DESK) or not u:
                other += 1
                if other > 1:
                    break
            k -= 1
    return hits


def _negated_before(clause: list[Token], i: int) -> bool:
    return any(u.tags & NEG for u in clause[max(0, i - 6):i])


def _negation_start(clause: list[Token], a: int) -> int:
    """Where a refusal's quote starts: at its negation when it comes first ("no me derives")."""
    for k in range(a - 1, max(-1, a - 5), -1):
        if clause[k].tags & NEG:
            return clause[k].start
    return clause[a].start


def _aimed_at_customer(clause: list[Token], i: int, b: int) -> bool:
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


def _after_want(clause: list[Token], i: int) -> bool:
    """A past form asks only in "I want to be transferred", "quiero ser transferido"."""
    for k in range(i - 1, max(-1, i - 4), -1):
        tags = clause[k].tags
        if tags & (WANT | AUX):
            return True
        if not tags & (FILLER | NEG | ME | PRONOUN | COMP):
            return False
    return False


_ANY_CJK = re.compile(f"[{CJK}]")


def _worth_reading(norm: str) -> bool:
    """Whether a message could ask for a person or refuse one at all: it must hold a word that
    means a person, a desk, a machine, a verb of contact, a call or a transfer, written as is, with
    an object pronoun on it, typed together with another or (in a message of a few words)
    mistyped. Most messages are about something else: they are not read further. Chinese and
    Japanese are always read."""
    if _ANY_CJK.search(norm):
        return True
    triggers, forms = lexicon.G.triggers, lexicon.G.forms
    words = LATIN_WORD.findall(norm)
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
    clauses = read_clauses(text, norm)
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
