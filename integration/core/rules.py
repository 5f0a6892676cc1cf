"""Per-installation rules: a typed schema, defaults, and validation that names the bad field.

Rules are plain JSON an admin edits in the helpdesk app. ``load_rules`` turns a mapping into a
:class:`Rules` (missing keys take the defaults) or raises :class:`RulesError` listing every
problem as ``path: message``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, get_args, get_origin, get_type_hints

import re2

from integration.core.model import CHANNELS, Conversation, Role
from integration.core.routing import CategoryRoute, HoursRule, RoutingRule, message_problems  # noqa: F401  (CategoryRoute: for get_type_hints)

ACTIONS = ("escalate", "offer_human", "raise_priority", "ignore")
PRIORITIES = ("low", "normal", "high", "urgent")
# An admin's taxonomy is read on every customer message of the tenant: its size is bounded.
MAX_TOPICS, MAX_PHRASES, MAX_PHRASE_CHARS = 100, 300, 500  # topics; phrases (and exclusions) per topic; one phrase
UNRUNNABLE = "Baton runs regular expressions in linear time"  # marks the one problem stored rules may keep


def _linear_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 8 << 20  # a bigger automaton falls back to RE2's slower matcher: still linear
    return options


_LINEAR = _linear_options()


@lru_cache(maxsize=1024)
def linear_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (time linear in the text, whatever the pattern), or None when
    RE2 cannot run it: look-around and back-references are the forms that need backtracking."""
    try:
        return re2.compile(pattern, _LINEAR)
    except re2.error:
        return None


def pattern_problem(pattern: str) -> str | None:
    """Why an admin's regular expression cannot be a topic phrase, in a sentence; None when it can."""
    try:
        re.compile(pattern)
    except re.error as e:
        return f"bad regular expression ({e})"
    if linear_pattern(pattern) is not None:
        return None
    try:
        re2.compile(pattern, _LINEAR)
    except re2.error as e:
        why = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
    return (f"{UNRUNNABLE}, so it cannot run this one ({why}); look-ahead, look-behind and "
            "back-references are not available: write the words out, or add an exclusion phrase instead")


class RulesError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid rules: " + "; ".join(problems))


@dataclass(frozen=True)
class SignalRule:
    """What a fired signal does: the action, the priority it asks for, the tier it routes to."""

    action: str = "escalate"
    priority: str = "normal"
    tier: int = 1


@dataclass(frozen=True)
class Topic:
    label: str  # what an agent reads: "billing dispute or payment problem"
    phrases: tuple[str, ...]  # words or phrases; "*" ends a prefix ("refund*"); "re:" starts a regex
    action: str = "escalate"
    priority: str = "normal"
    tier: int = 2
    exclude: tuple[str, ...] = ()  # phrases that mean it is not this topic ("newsletter")


@dataclass(frozen=True)
class SentimentRule(SignalRule):
    threshold: float = 0.5  # frustration score that escalates
    offer_threshold: float = 0.35  # below the threshold but above this: offer a human


@dataclass(frozen=True)
class LoopRule(SignalRule):
    similarity: float = 0.5  # how alike two customer messages must be to count as a rephrase
    rephrases: int = 2  # earlier messages asking the same thing
    bot_repeats: int = 2  # the bot sending the same answer this many times
    stalled_exchanges: int = 3  # exchanges in a row where the bot failed or was corrected
    max_exchanges: int = 12  # customer turns without the bot getting anywhere


@dataclass(frozen=True)
class SegmentRule(SignalRule):
    tiers: tuple[str, ...] = ("vip", "enterprise")  # customer tier or tag that goes to a human
    churn_risk: float = 0.7  # churn risk at or above this escalates


@dataclass(frozen=True)
class RepeatContactRule(SignalRule):
    contacts: int = 3  # this many earlier contacts …
    days: int = 14  # … within this many days


@dataclass(frozen=True)
class ConfidenceRule(SignalRule):
    threshold: float = 0.4  # the bot's own confidence below this
    # where the bot leaves its confidence on the ticket, when it does: a ticket field (Zendesk
    # custom field id, Freshdesk custom field name, Intercom conversation attribute) holding 0–1
    # or 0–100, and/or a tag like "bot_confidence_35"
    field: str | None = None
    tag_prefix: str | None = None


@dataclass(frozen=True)
class LanguageRule(SignalRule):
    bot_languages: tuple[str, ...] = ()  # empty: the bot speaks every language
    # a language Baton reads no requests in (Chinese, Russian, Arabic …): hand such conversations over
    unread_escalates: bool = False


@dataclass(frozen=True)
class ModelRule(SignalRule):
    enabled: bool = True
    threshold: float = 0.5  # probability that a human is needed


@dataclass(frozen=True)
class ScopeRule:
    """Which conversations Baton watches; an empty list means every one."""

    channels: tuple[str, ...] = ()  # of CHANNELS: "messaging", "chat", "email" …
    brands: tuple[str, ...] = ()  # brand (Zendesk) or product (Freshdesk) ids
    groups: tuple[str, ...] = ()  # the group or team the conversation sits in
    tags: tuple[str, ...] = ()  # any of these tags
    exclude_tags: tuple[str, ...] = ()  # none of these tags
    bot_only: bool = False  # only conversations a bot took part in

    def excludes(self, c: Conversation) -> str | None:
        """Why Baton leaves this conversation alone, or None when it watches it."""
        if self.channels and c.channel not in self.channels:
            return f"channel {c.channel or 'unknown'} is not watched"
        if self.brands and c.brand not in self.brands:
            return "its brand is not watched"
        if self.groups and c.group_id not in self.groups:
            return "its group is not watched"
        if self.tags and not set(self.tags) & set(c.tags):
            return "it has none of the watched tags"
        if set(self.exclude_tags) & set(c.tags):
            return "it has an excluded tag"
        if self.bot_only and not any(m.role is Role.BOT for m in c.messages):
            return "no bot took part"
        return None


def _topics() -> dict[str, Topic]:
    return {
        "billing_dispute": Topic(
            "billing dispute or payment problem",
            (
                "charged twice", "double charged", "double charge*", "overcharg*", "extra charge*",
                "wrong charge*", "unauthori?ed charge*", "unknown charge*", "charged me", "dispute*",
                "billing error", "billing issue", "billing problem", "wrong bill*", "duplicate bill*",
                "payment* and bill*", "payment* & bill*", "payment related", "payment fail*", "payment declin*",
                "payment issue*", "payment problem*", "payment not *", "deducted", "deduction", "debited",
                "balance gone", "money less", "money is deducted",
                # money owed to the customer (a deposit, a bonus, a cashback, a reward) not there or wrong
                "re:\\b(?:money|amount|balance|deposit(?:ed|s)?|cash\\s*backs?|cashbacks?|bonus(?:es)?|rewards?|refund|payment|transfer|wallet)\\b[\\w\\s]{0,20}?\\b(?:is\\s+|are\\s+|still\\s+|has\\s+|have\\s+)?(?:(?:not|never)\\s+(?:received|recieved|credited|reflected|added|showing|visible|there|updated|came|arrived|showed\\s+up)|wrong|incorrect|missing|gone|less)\\b",
                "re:\\b(?:not|never|didn'?t|did\\s+not|haven'?t|have\\s+not|can'?t|cannot)\\s+(?:get|got|receive|received|recieve|recieved|see)\\s+(?:my\\s+|the\\s+|any\\s+)?(?:[a-z]+\\s+){0,2}?(?:money|deposit|cash\\s*back\\w*|bonus(?:es)?|rewards?|amount|payment|transaction|refund)\\b",
                "re:\\bwaiting\\s+for\\s+(?:my\\s+|the\\s+)?(?:[a-z]+\\s+)?(?:money|deposit|cash\\s*back\\w*|bonus(?:es)?|rewards?|payment|refund)\\b[\\w\\s]{0,20}?\\b(?:reflect\\w*|credit\\w*|show\\w*|added)\\b",
                "re:\\bwallet\\b[\\w\\s]{0,20}\\b(?:not|wrong|incorrect)",
                "re:\\b(?:transaction|deposit|balance|payment)\\s+is\\s+(?:wrong|incorrect|not\\s+there|not\\s+visible)",
                "cobro indebido", "cobro doble", "cobrado dos veces", "me cobraron", "preleve deux fois",
                "facture deux fois", "double prelevement", "doppelt abgebucht", "falsche abbuchung",
                "cobrado duas vezes", "cobranca indevida", "not credit*", "can't pay", "cannot pay", "cant pay",
                "unable to pay", "payment error*",
                "re:\\b(?:wrong|incorrect)\\s+(?:balance|amount|charges?|bill|deduction)\\b",
                "re:\\bpaying\\s+(?:for\\b|\\$?\\d)[^.]{0,40}?\\b(?:not|never)\\s+(?:getting|get|receiving)\\b",
                "re:\\b(?:trouble|issue|problem|error)s?\\s+(?:with|in|on)\\s*(?:the\\s+|my\\s+|an?\\s+)?(?:online\\s+)?payments?\\b",
                "re:\\bwhere\\s+(?:is|gone|did|has)\\s+(?:my\\s+)?(?:money|balance|deposit|payment|refund)",
                "re:\\b(?:issue|problem|query|queries|question)\\s+(?:with|about|related\\s+to|regarding)\\s+(?:my\\s+|the\\s+)?(?:bill|payments?|invoice|charges?)\\b",
                # asking for a bill or an invoice (a copy, one for an order): the billing team issues it
                "re:\\b(?:want|need|require|give\\s+me|send\\s+me)\\s+(?:an?\\s+|my\\s+|the\\s+)?(?:copy\\s+of\\s+(?:an?\\s+|my\\s+|the\\s+)?)?(?:invoice|bill|receipt)s?\\b",
                "re:\\b(?:not|never)\\s+(?:received|provided|publi\\w+|got|get|sent)\\b[\\w\\s]{0,15}\\bbill\\b",
            ),
            exclude=("tax*",),
            priority="high",
        ),
        "refund": Topic(
            "refund",
            (
                "refund*", "money back", "reimburs*", "chargeback", "charge back", "reembolso*",
                "devolucion del dinero", "rembours*", "ruckerstattung", "geld zuruck", "estorno",
            ),
            # asking about the policy is a question the bot can answer, not a dispute
            exclude=("refund* polic*", "reimbursement polic*", "in which case*", "in what case*",
                     "in which situation*", "in what situation*", "under what circumstance*"),
        ),
        "cancellation": Topic(
            "cancellation or account deletion",
            (
                "cancel*", "unsubscrib*", "removal of my *", "terminate my *", "end my subscription", "stop my subscription",
                "close my account", "delete my account", "delete account", "deleting * account",
                "remove my account", "deactivate my account", "close account",
                "re:\\b(?:delete|deleting|remove|removing|close|closing|terminate|terminating)\\s+(?:\\w+\\s+){0,2}acc\\w{3,6}\\b",
                "re:\\b(?:removal|removals|deletion|termination|closure)\\s+of\\s+(?:my\\s+|the\\s+|an?\\s+)?(?:\\w+\\s+)?account",
                "re:\\baccount\\s+(?:removal|deletion|termination|closure)s?\\b",
                "darme de baja", "dar de baja", "annuler", "annulation", "resilier", "resiliation",
                "supprimer mon compte", "kundigen", "kundigung", "stornieren", "storno",
                "konto loschen", "cancelamento", "excluir minha conta", "cancelar",
            ),
            exclude=("newsletter*", "mailing list", "marketing email*", "notification*",
                     "cancellation fee*", "cancellation polic*"),
        ),
        "legal": Topic(
            "legal",
            (
                "lawyer*", "attorney*", "solicitor*", "sue", "suing", "lawsuit", "legal action",
                "legal team", "legal department", "legal notice", "court", "small claims",
                "consumer protection", "consumer court", "consumer rights", "ombudsman", "regulator*",
                "trading standards", "abogado*", "demanda", "avocat*", "tribunal", "anwalt", "klage",
                "gericht", "verbraucherzentrale", "advogado*", "procon",
            ),
            priority="high", tier=3,
        ),
        "security_privacy": Topic(
            "security or privacy",
            (
                "hacked", "hacker*", "compromised", "unauthori?ed access", "unauthori?ed login*",
                "unauthori?ed transaction*", "unauthori?ed purchase*", "stolen", "phishing",
                "identity theft", "data breach", "leaked", "gdpr", "personal data", "delete my data",
                "privacy", "suspicious login*", "suspicious activity",
                "re:\\bsomeone\\s+(?:else\\s+)?(?:logged|log\\s+in|accessed|used|is\\s+using)\\b",
                "hackeado", "robo de identidad", "datos personales", "pirate", "donnees personnelles",
                "gehackt", "datenschutz", "personliche daten", "dados pessoais",
            ),
            priority="urgent", tier=2,
        ),
        "outage": Topic(
            "outage",
            (
                "outage", "down for everyone", "service is down", "site is down", "website is down",
                "app is down", "server is down", "system is down", "everything is down",
                "re:\\b(?:site|app|service|system|website|server|platform|dashboard)\\s+(?:is\\s+|has\\s+)?(?:down|crashed|crashing|unavailable)\\b",
                "500 error", "502 error", "503 error", "caida del servicio", "panne", "storung",
                "no internet", "nothing works", "internet is down", "email is down", "e-mail is down",
                "re:\\b(?:e-?mail|internet|service|network|phones?|tv|cable|wifi)\\s+(?:is\\s+|are\\s+)?(?:down|out)\\b",
                "re:\\bis\\s+there\\s+(?:an?\\s+)?(?:\\w+\\s+)?(?:problem|outage|issue)\\s+in\\s+(?:the\\s+|my\\s+)?\\w+",
            ),
            priority="high", tier=3,
        ),
    }


@dataclass(frozen=True)
class Rules:
    explicit_request: SignalRule = SignalRule()
    sentiment: SentimentRule = SentimentRule()
    topics: Mapping[str, Topic] = field(default_factory=_topics)
    loop: LoopRule = LoopRule(priority="high")
    segment: SegmentRule = SegmentRule(priority="high", tier=2)
    repeat_contact: RepeatContactRule = RepeatContactRule(action="offer_human", priority="high")
    bot_confidence: ConfidenceRule = ConfidenceRule(action="offer_human")
    language: LanguageRule = LanguageRule()
    model: ModelRule = ModelRule()
    routing: RoutingRule = RoutingRule()
    scope: ScopeRule = ScopeRule()


DEFAULT_RULES = Rules()


def load_rules(data: Mapping[str, Any] | None, stored: bool = False) -> Rules:
    """Rules from a JSON mapping over the defaults. Topics given by an admin are added to the
    default taxonomy or replace one of the same key; ``{"topics": {"legal": null}}`` removes one.

    ``stored``: rules published before a check existed (a regular expression saved before Baton
    ran them in linear time) still load, the phrase that cannot run matching nothing, so one old
    phrase does not stop the installation; the console names it when the admin next saves."""
    if data is None:
        return DEFAULT_RULES
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise RulesError(["rules: must be a JSON object"])
    rules = _build(Rules, data, DEFAULT_RULES, "", problems)
    if stored:
        problems = [p for p in problems if UNRUNNABLE not in p]
    if problems:
        raise RulesError(problems)
    return rules


def load_rules_file(path: str | Path) -> Rules:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RulesError([f"{path}: not valid JSON ({e.msg} at line {e.lineno})"]) from e
    return load_rules(data)


def _build(cls: type, data: Mapping[str, Any], default: Any, path: str, problems: list[str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            problems.append(f"{path}{key}: unknown field (expected one of {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        where = f"{path}{f.name}"
        hint = hints[f.name]
        current = getattr(default, f.name) if default is not None else None
        if f.name == "topics":
            values[f.name] = _build_topics(data[f.name], current, where, problems)
        else:
            values[f.name] = _value(hint, data[f.name], current, where, problems)
    if default is None:
        missing = [f.name for f in fields(cls) if f.name not in values and _required(f)]
        for name in missing:
            problems.append(f"{path}{name}: required")
        if missing:
            return None
        obj = cls(**values)
    else:
        obj = replace(default, **values)
    _check(obj, path, problems)
    return obj


def _required(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


def _value(hint: Any, value: Any, current: Any, where: str, problems: list[str]) -> Any:
    if is_dataclass(hint):
        if not isinstance(value, Mapping):
            problems.append(f"{where}: must be an object")
            return current
        return _build(hint, value, current, where + ".", problems)
    origin = get_origin(hint)
    if origin in (Mapping, dict, MappingABC):
        _, item = get_args(hint)
        if not isinstance(value, Mapping):
            problems.append(f"{where}: must be an object")
            return current
        out = {}
        for key, sub in value.items():
            out[str(key)] = _value(item, sub, None, f"{where}.{key}", problems)
        return out
    if origin is tuple:
        (item,) = {a for a in get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            problems.append(f"{where}: must be a list of {item.__name__}")
            return current
        return tuple(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: must be a number")
            return current
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: must be a whole number")
            return current
        return value
    if not isinstance(value, hint):
        problems.append(f"{where}: must be {getattr(hint, '__name__', str(hint).replace(' | None', ' or null'))}")
        return current
    return value


def _build_topics(value: Any, current: Mapping[str, Topic], where: str, problems: list[str]) -> dict[str, Topic]:
    topics = dict(current)
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be an object of topic name → topic")
        return topics
    for name, spec in value.items():
        key = f"{where}.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            problems.append(f"{key}: topic names are lower_snake_case, at most 40 characters")
        elif spec is None:
            topics.pop(name, None)
        elif not isinstance(spec, Mapping):
            problems.append(f"{key}: must be an object or null")
        else:
            topic = _build(Topic, spec, topics.get(name), key + ".", problems)
            if topic is not None:
                topics[name] = topic
    if len(topics) > MAX_TOPICS:
        problems.append(f"{where}: at most {MAX_TOPICS} topics (got {len(topics)})")
    return topics


def _check(obj: Any, path: str, problems: list[str]) -> None:
    """Range checks that types cannot express."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        where = f"{path}{f.name}"
        if f.name == "action" and value not in ACTIONS:
            problems.append(f"{where}: must be one of {', '.join(ACTIONS)} (got {value!r})")
        elif f.name == "priority" and value not in PRIORITIES:
            problems.append(f"{where}: must be one of {', '.join(PRIORITIES)} (got {value!r})")
        elif f.name == "tier" and value not in (1, 2, 3):
            problems.append(f"{where}: must be 1, 2 or 3 (got {value!r})")
        elif f.name in ("threshold", "offer_threshold", "similarity", "churn_risk") and not 0 <= value <= 1:
            problems.append(f"{where}: must be between 0 and 1 (got {value!r})")
        elif f.name in ("rephrases", "bot_repeats", "stalled_exchanges", "max_exchanges", "contacts", "days") and value < 1:
            problems.append(f"{where}: must be at least 1 (got {value!r})")
        elif isinstance(obj, HoursRule):
            problems.extend(f"{path}{p}" for p in obj.problems(f.name))
        elif f.name == "sla" and isinstance(obj, RoutingRule):
            problems.extend(f"{where}.{k}: must be at least 1 minute (got {v!r})" for k, v in value.items()
                            if isinstance(v, int) and v < 1)  # not a number: refused as such already
        elif f.name == "messages" and isinstance(obj, RoutingRule):
            problems.extend(f"{where}.{p}" for p in message_problems(value))
        elif f.name == "channels" and isinstance(obj, ScopeRule):
            problems.extend(f"{where}: {c!r} is not a channel (use {', '.join(CHANNELS)})" for c in value
                            if c not in CHANNELS)
        elif f.name in ("phrases", "exclude") and isinstance(obj, Topic):
            if not value and f.name == "phrases":
                problems.append(f"{where}: needs at least one phrase")
            if len(value) > MAX_PHRASES:
                problems.append(f"{where}: at most {MAX_PHRASES} phrases (got {len(value)})")
            for i, phrase in enumerate(value[:MAX_PHRASES]):
                if len(phrase) > MAX_PHRASE_CHARS:
                    problems.append(f"{where}[{i}]: at most {MAX_PHRASE_CHARS} characters (got {len(phrase)})")
                elif phrase.startswith("re:"):
                    if why := pattern_problem(phrase[3:]):
                        problems.append(f"{where}[{i}]: {why}")
                elif not phrase.strip():
                    problems.append(f"{where}[{i}]: empty phrase")


def rules_to_json(rules: Rules) -> dict[str, Any]:
    """Every rule, defaults included, as JSON (what a version's diff compares)."""
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(rules)))


def differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(path, value in a, value in b) for every rule that differs between two rules JSONs, as
    they take effect (defaults filled in); a rule only one side has shows None on the other."""
    flat_a, flat_b = flatten(rules_to_json(load_rules(a))), flatten(rules_to_json(load_rules(b)))
    return [(k, flat_a.get(k), flat_b.get(k)) for k in sorted(flat_a.keys() | flat_b.keys())
            if flat_a.get(k) != flat_b.get(k)]


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """A rules JSON as ``{"sentiment.threshold": 0.5, …}``: what a diff compares, path by path."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: value}
