"""Where an escalation lands and what the customer is told — pure functions, no I/O.

A decision plus the installation's roster (agents, groups, business hours, recent stats) and its
routing rules give a :class:`Route`: the group, maybe an agent, every candidate with the reason
it was chosen or passed over, and an honest message for the customer (a wait estimate only when
there is enough data, the next opening in the customer's time zone after hours).

Order of preference: the agent who recently helped this customer (continuity), if qualified;
otherwise the least-loaded qualified agent with spare capacity, ties to the longest idle;
otherwise the group queue. Never an offline or over-capacity agent; no live assignment at all
outside the group's business hours.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_calendars

from integration.core.model import Conversation, Decision

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    """Weekly opening hours in a time zone, minus public holidays and closed dates."""

    timezone: str = "UTC"
    weekly: Mapping[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)  # "mon" → ((09:00, 17:00),)
    holidays_country: str | None = None  # ISO code for the `holidays` package, e.g. "FR", "US"
    holidays_subdiv: str | None = None
    closed_dates: frozenset[date] = frozenset()

    def _closed(self, day: date) -> bool:
        return day in self.closed_dates or (
            self.holidays_country is not None and day in _calendar(self.holidays_country, self.holidays_subdiv, day.year))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if self._closed(local.date()):
            return False
        return any(start <= local.time() < end for start, end in self.weekly.get(DAYS[local.weekday()], ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """The next moment the group is open (``at`` itself when open), within a year."""
        if self.is_open(at):
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        for offset in range(367):
            day = local.date() + timedelta(days=offset)
            if self._closed(day):
                continue
            for start, _ in sorted(self.weekly.get(DAYS[day.weekday()], ())):
                # wall-clock time in the group's zone; fold=0 picks the first of an ambiguous hour
                opening = datetime.combine(day, start, tzinfo=zone)
                if opening > at and self.is_open(opening):
                    return opening
        return None


@lru_cache(maxsize=64)
def _calendar(country: str, subdiv: str | None, year: int) -> holiday_calendars.HolidayBase:
    return holiday_calendars.country_holidays(country, subdiv=subdiv, years=year)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str = ""
    groups: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()  # empty: unknown, matches any language
    online: bool = True
    capacity: int = 5
    load: int = 0  # open conversations assigned to them now
    idle_since: datetime | None = None  # when they last got a conversation


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    hours: BusinessHours | None = None  # None: always open
    queue_depth: int = 0  # conversations waiting unassigned
    first_replies: tuple[float, ...] = ()  # recent first-reply times, minutes


@dataclass(frozen=True, eq=False)
class Roster:
    agents: tuple[Agent, ...]
    groups: Mapping[str, Group]

    def __post_init__(self) -> None:
        # routing reads one group's members out of thousands of agents: index once
        by_group: dict[str, list[Agent]] = {}
        for a in self.agents:
            for g in a.groups:
                by_group.setdefault(g, []).append(a)
        object.__setattr__(self, "by_group", {g: tuple(v) for g, v in by_group.items()})
        object.__setattr__(self, "_by_id", {a.id: a for a in self.agents})

    by_group: Mapping[str, tuple[Agent, ...]] = field(init=False, repr=False)

    def agent(self, agent_id: str) -> Agent | None:
        return self._by_id.get(agent_id)  # type: ignore[attr-defined,no-any-return]


# Rules for routing live in integration.core.rules (RoutingRule); this module reads these fields.
@dataclass(frozen=True)
class CategoryRoute:
    group: str | None = None
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class HoursRule:
    """Business hours as an admin writes them: {"timezone": "Europe/Paris", "weekly": {"mon":
    ["09:00-12:30", "13:30-17:00"]}, "holidays": "FR", "closed": ["2026-12-24"]}."""

    timezone: str = "UTC"
    weekly: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    holidays: str | None = None
    closed: tuple[str, ...] = ()

    def problems(self, name: str) -> list[str]:
        """What is wrong with field ``name`` (rules validation calls this once per field)."""
        if name == "timezone":
            try:
                ZoneInfo(self.timezone)
            except (ValueError, KeyError, ZoneInfoNotFoundError):
                return [f"timezone: unknown time zone {self.timezone!r}"]
        if name == "weekly":
            out = [f"weekly.{d}: not a day (use {', '.join(DAYS)})" for d in self.weekly if d not in DAYS]
            for d, spans in self.weekly.items():
                out += [f"weekly.{d}: {span!r} is not HH:MM-HH:MM with start before end"
                        for span in spans if _span(span) is None]
            return out
        if name == "holidays" and self.holidays:
            try:
                holiday_calendars.country_holidays(self.holidays)
            except NotImplementedError:
                return [f"holidays: no calendar for {self.holidays!r}"]
        if name == "closed":
            out = []
            for d in self.closed:
                try:
                    date.fromisoformat(d)
                except ValueError:
                    out.append(f"closed: {d!r} is not a date (YYYY-MM-DD)")
            return out
        return []

    def business_hours(self) -> BusinessHours:
        return BusinessHours(
            self.timezone, {d: tuple(s for s in (_span(x) for x in spans) if s) for d, spans in self.weekly.items()},
            self.holidays, None, frozenset(date.fromisoformat(d) for d in self.closed))


def business_minutes(start: datetime, end: datetime, hours: BusinessHours | None) -> float:
    """Minutes between ``start`` and ``end`` that fall in the business hours (all of them when the
    group has none), walking the group's openings: a weekend or a holiday does not count."""
    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds() / 60
    zone = ZoneInfo(hours.timezone)
    total, day = 0.0, start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        if not hours._closed(day):
            for a, b in hours.weekly.get(DAYS[day.weekday()], ()):
                lo = max(start, datetime.combine(day, a, tzinfo=zone))
                hi = min(end, datetime.combine(day, b, tzinfo=zone))
                total += max(0.0, (hi - lo).total_seconds() / 60)
        day += timedelta(days=1)
    return total


def sla_minutes(rule: RoutingRule, category: str | None) -> int | None:
    """The handoff SLA for a category, if the admin set one."""
    minutes = rule.sla.get(category or "", rule.sla.get("*"))
    return minutes if minutes else None


def _span(text: str) -> tuple[time, time] | None:
    try:
        a, b = (time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError:
        return None
    return (a, b) if a < b else None


@dataclass(frozen=True)
class RoutingRule:
    categories: Mapping[str, CategoryRoute] = field(default_factory=dict)  # category → group and skills
    segments: Mapping[str, str] = field(default_factory=dict)  # customer tier/tag → group (VIP → account team)
    tiers: Mapping[str, str] = field(default_factory=dict)  # "2" / "3" → group (specialists, engineering)
    default_group: str | None = None
    match_language: bool = True
    min_samples: int = 5  # first replies needed before quoting a wait
    messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind → language → template
    hours: Mapping[str, HoursRule] = field(default_factory=dict)  # group id → business hours (none: always open)
    # tell the customer in the conversation (handoff, after hours, offer); off until an admin turns it
    # on, since many bots announce the handoff themselves
    notify_customer: bool = False
    # what customers may be told a group is called (group id → name); a group not named here is
    # "our team" to customers, whatever it is called inside the helpdesk
    public_names: Mapping[str, str] = field(default_factory=dict)
    # categories whose notices never name a team, even a public one ("Legal is offline" is not
    # what a customer who just threatened legal action should read)
    discreet: tuple[str, ...] = ("legal", "security_privacy")
    # handoff SLA: minutes (in the group's business hours) a handed-over conversation may wait for a
    # person's first reply, per category ("*": every other category); then Baton re-routes it once
    # to the next qualified agent and raises its priority
    sla: Mapping[str, int] = field(default_factory=dict)

    def groups(self) -> set[str]:
        """Every group these rules name (routes, hours, the names customers see)."""
        named = {*self.hours, *self.segments.values(), *self.tiers.values(), self.default_group,
                 *(c.group for c in self.categories.values()), *self.public_names}
        return {g for g in named if g}


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    chosen: bool
    why: str
    name: str = ""  # how agents know each other; the note shows this, never the id


@dataclass(frozen=True)
class Route:
    group_id: str | None
    agent_id: str | None
    live: bool  # someone can pick it up now (in business hours)
    opens_at: datetime | None  # after hours: when the group opens
    wait_minutes: float | None  # in hours: honest estimate, None when there is too little data
    candidates: tuple[Candidate, ...]
    explanation: str
    customer_message: str
    team: str = ""  # the group's name, for the agent
    told: str = ""  # how the customer is told about the team ("our team" unless the admin named it)


def roster_from_json(data: Mapping[str, object], rule: RoutingRule,
                     stats: Mapping[str, tuple[int, Sequence[float]]] | None = None) -> Roster:
    """The stored roster (as a connector's sync normalized it) with the rules' business hours and
    Baton's own measurements per group (queue depth, recent first-reply minutes). Groups the
    rules name but the roster does not know still get their hours."""
    groups: dict[str, Group] = {}
    for g in data.get("groups") or ():  # type: ignore[union-attr]
        gid = str(g["id"])
        groups[gid] = Group(gid, g.get("name") or gid, None, int(g.get("queue_depth") or 0),
                            tuple(float(x) for x in g.get("first_replies") or ()))
    for gid in rule.groups():
        if gid not in groups:
            groups[gid] = Group(gid, gid)  # not synced yet: its id is all Baton knows
    for gid, hours in rule.hours.items():
        groups[gid] = replace(groups[gid], hours=hours.business_hours())
    for gid, (depth, waits) in (stats or {}).items():
        if gid in groups:
            groups[gid] = replace(groups[gid], queue_depth=depth, first_replies=tuple(waits))
    agents = tuple(
        Agent(str(a["id"]), a.get("name") or "", frozenset(map(str, a.get("groups") or ())),
              frozenset(a.get("skills") or ()), frozenset(a.get("languages") or ()), bool(a.get("online", True)),
              int(a.get("capacity") or 5), int(a.get("load") or 0), _iso(a.get("idle_since")))
        for a in data.get("agents") or ()  # type: ignore[union-attr]
    )
    return Roster(agents, groups)


def _iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


def route_to_json(r: Route) -> dict[str, object]:
    return {"group_id": r.group_id, "agent_id": r.agent_id, "live": r.live,
            "opens_at": r.opens_at.isoformat() if r.opens_at else None, "wait_minutes": r.wait_minutes,
            "explanation": r.explanation, "customer_message": r.customer_message,
            "candidates": [{"agent_id": c.agent_id, "chosen": c.chosen, "why": c.why} for c in r.candidates]}


def route(decision: Decision, conversation: Conversation, roster: Roster, rule: RoutingRule, now: datetime,
          previous_agents: Sequence[str] = ()) -> Route:
    customer = conversation.customer
    group_id, why_group = _group(decision, customer.tier, customer.tags, rule)
    group = roster.groups.get(group_id) if group_id else None
    cat = rule.categories.get(decision.category or "", CategoryRoute())
    skills = frozenset(cat.skills)
    language = (decision.language or customer.language or "").split("-")[0] or None
    team = group.name if group else "no group"  # for the agent's note
    told = _public_team(rule, group_id, decision.category, language)  # for the customer

    if group and group.hours and not group.hours.is_open(now):
        opens = group.hours.next_opening(now)
        msg = message(rule, "after_hours", language, decision.category, team=told, opening=_when(opens, customer.timezone))
        return Route(group_id, None, False, opens, None, (),
                     f"{why_group}; {team} is closed now (opens {_when(opens, group.hours.timezone)}): queued, "
                     "no live assignment", msg, team, told)

    members = roster.by_group.get(group_id, ()) if group_id else roster.agents
    candidates: list[Candidate] = []
    chosen: Agent | None = None
    why_agent = ""
    for agent_id in previous_agents:  # continuity first
        agent = roster.agent(agent_id)
        if agent is None:
            continue
        problem = _unfit(agent, skills, language if rule.match_language else None)
        if problem:
            candidates.append(Candidate(agent.id, False, f"helped this customer recently, but {problem}", agent.name))
        elif chosen is None:
            chosen, why_agent = agent, f"{agent.name or agent.id} helped this customer recently"
    fit: list[Agent] = []
    unmatched_language: list[Agent] = []
    for agent in members:
        if chosen is not None and agent.id == chosen.id:
            continue
        problem = _unfit(agent, skills, None)
        if problem:
            candidates.append(Candidate(agent.id, False, problem, agent.name))
        elif rule.match_language and language and agent.languages and language not in agent.languages:
            unmatched_language.append(agent)
        else:
            fit.append(agent)
    pool = fit or unmatched_language  # someone who cannot speak the language beats nobody
    ranked = sorted(pool, key=lambda a: (a.load / max(1, a.capacity), a.load, a.idle_since or EPOCH, a.id))
    if chosen is None and ranked:
        chosen = ranked[0]
        why_agent = (f"{chosen.name or chosen.id}: least loaded qualified agent ({chosen.load}/{chosen.capacity} open)"
                     + ("" if fit else f"; nobody in the group speaks {language}"))
    for agent in ranked if fit else ():
        if chosen is None or agent.id != chosen.id:
            candidates.append(Candidate(agent.id, False, "busier or less idle than the chosen agent", agent.name))
    for agent in unmatched_language:
        if chosen is None or agent.id != chosen.id:
            candidates.append(Candidate(agent.id, False, f"does not speak {language}", agent.name))
    if chosen is not None:
        candidates.insert(0, Candidate(chosen.id, True, why_agent, chosen.name))

    wait = _wait(group, chosen is not None, len(fit) or len(unmatched_language), rule)
    wait_text = message(rule, "wait", language, minutes=_round(wait)) if wait is not None else ""
    msg = message(rule, "handoff", language, decision.category, team=told, wait=wait_text).strip()
    explanation = f"{why_group}; " + (why_agent if chosen else "no qualified agent free now: left in the group queue")
    return Route(group_id, chosen.id if chosen else None, True, None, wait, tuple(candidates), explanation, msg, team,
                 told)


def _public_team(rule: RoutingRule, group_id: str | None, category: str | None, language: str | None) -> str:
    if category not in rule.discreet and group_id in rule.public_names:
        return rule.public_names[group_id]  # type: ignore[index]
    return message(rule, "team", language)


def _group(decision: Decision, tier: str | None, tags: Iterable[str], rule: RoutingRule) -> tuple[str | None, str]:
    for mark in (tier, *tags):
        if mark and mark.lower() in rule.segments:
            return rule.segments[mark.lower()], f"{mark} customers go to their account team"
    cat = rule.categories.get(decision.category or "")
    if cat and cat.group:
        return cat.group, f"{(decision.category or '').replace('_', ' ')} goes to its specialists"
    if str(decision.tier) in rule.tiers:
        return rule.tiers[str(decision.tier)], f"tier {decision.tier} escalation"
    return rule.default_group, "default group" if rule.default_group else "no group configured"


def _unfit(agent: Agent, skills: frozenset[str], language: str | None) -> str | None:
    if not agent.online:
        return "offline"
    if agent.load >= agent.capacity:
        return f"at capacity ({agent.load}/{agent.capacity})"
    missing = skills - agent.skills
    if missing:
        return "missing skills: " + ", ".join(sorted(missing))
    if language and agent.languages and language not in agent.languages:
        return f"does not speak {language}"
    return None


def _wait(group: Group | None, assigned: bool, free_agents: int, rule: RoutingRule) -> float | None:
    """Median recent first reply, times how many are ahead per free agent; None with too little data."""
    if group is None or len(group.first_replies) < rule.min_samples:
        return None
    median = statistics.median(group.first_replies)
    if assigned:
        return median
    return median * (1 + group.queue_depth / max(1, free_agents))


def _round(minutes: float | None) -> int:
    return max(1, int(round(minutes or 0)))


def _when(at: datetime | None, tz: str | None) -> str:
    if at is None:
        return "as soon as possible"
    zone = ZoneInfo(tz) if tz else timezone.utc
    local = at.astimezone(zone)
    return local.strftime("%A %d %B, %H:%M ") + (tz or "UTC")


DEFAULT_MESSAGES: Mapping[str, Mapping[str, str]] = {
    # how a team is named to customers when the admin named none (as the other templates use it)
    "team": {"en": "our team", "es": "nuestro equipo", "fr": "notre équipe", "de": "unserem Team",
             "pt": "a nossa equipa"},
    "handoff": {
        "en": "I'm connecting you with {team}. They'll see everything you told me, so you won't need to repeat it. {wait}",
        "es": "Te estoy conectando con {team}. Verán todo lo que me contaste, no tendrás que repetirlo. {wait}",
        "fr": "Je vous mets en relation avec {team}. Ils verront tout ce que vous m'avez dit, inutile de répéter. {wait}",
        "de": "Ich verbinde Sie mit {team}. Dort sieht man alles, was Sie mir geschrieben haben. {wait}",
        "pt": "Estou a ligar você a {team}. Eles verão tudo o que me disse, não precisa repetir. {wait}",
    },
    "wait": {
        "en": "Someone usually replies within about {minutes} minutes.",
        "es": "Normalmente alguien responde en unos {minutes} minutos.",
        "fr": "Quelqu'un répond en général en {minutes} minutes environ.",
        "de": "Normalerweise antwortet jemand in etwa {minutes} Minuten.",
        "pt": "Normalmente alguém responde em cerca de {minutes} minutos.",
    },
    "after_hours": {
        "en": "I've passed your conversation, with everything you told me, to {team}. Nobody is available "
              "right now; they'll reply when they're back: {opening}.",
        "es": "He pasado tu conversación completa a {team}. Ahora mismo no hay nadie disponible; "
              "responderán al volver: {opening}.",
        "fr": "J'ai transmis toute la conversation à {team}. Personne n'est disponible pour le moment ; "
              "vous aurez une réponse au retour : {opening}.",
        "de": "Ich habe Ihr Gespräch vollständig an {team} weitergegeben. Gerade ist niemand erreichbar; "
              "Sie hören von uns ab {opening}.",
        "pt": "Passei a sua conversa completa a {team}. Neste momento não há ninguém disponível; "
              "responderão quando voltarem: {opening}.",
    },
    "offer": {
        "en": "I can connect you with {team}, who can probably sort this out quickly. Would you like that now, "
              "or shall I keep trying here?",
        "es": "Puedo conectarte con {team}, que seguramente lo resuelva rápido. ¿Quieres que lo haga ahora o sigo "
              "intentándolo aquí?",
        "fr": "Je peux vous mettre en relation avec {team}, qui pourra sans doute régler cela rapidement. "
              "Voulez-vous que je le fasse maintenant, ou que je continue ici ?",
        "de": "Ich kann Sie mit {team} verbinden; dort lässt sich das wahrscheinlich schnell klären. "
              "Soll ich Sie jetzt verbinden oder es hier weiter versuchen?",
        "pt": "Posso ligá-lo a {team}, que deve resolver isto rapidamente. Quer que o faça agora ou continuo a "
              "tentar aqui?",
    },
}


# What each kind of customer message may say in braces.
PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {"team": (), "handoff": ("team", "wait"), "wait": ("minutes",),
                                               "after_hours": ("team", "opening"), "offer": ("team",)}


def message_problems(messages: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What is wrong with an admin's customer messages: an unknown kind, a placeholder the kind
    does not fill (it would fail at the customer's handoff)."""
    out = []
    for key, texts in messages.items():
        kind = key.partition(":")[0]
        if kind not in PLACEHOLDERS:
            out.append(f"{key}: not a kind of message (use {', '.join(PLACEHOLDERS)}, or kind:category)")
            continue
        for lang, text in texts.items():
            try:
                text.format(**{p: "" for p in PLACEHOLDERS[kind]})
            except (KeyError, IndexError) as e:
                out.append(f"{key}.{lang}: unknown placeholder {{{e.args[0]}}} (this message can use "
                           f"{', '.join('{' + p + '}' for p in PLACEHOLDERS[kind]) or 'none'})")
            except ValueError as e:
                out.append(f"{key}.{lang}: braces do not match ({e}); write {{{{ and }}}} for a literal brace")
    return out


def message(rule: RoutingRule, kind: str, language: str | None, category: str | None = None,
            **values: object) -> str:
    """The admin's template for this kind and reason ("handoff:billing_dispute"), else for the
    kind, else ours; in the customer's language, else English."""
    sources = [rule.messages.get(f"{kind}:{category}", {}), rule.messages.get(kind, {}), DEFAULT_MESSAGES[kind]]
    for source in sources:
        for lang in (language, "en"):
            if lang and lang in source:
                return source[lang].format(**values)
    return ""
