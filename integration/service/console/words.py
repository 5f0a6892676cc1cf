"""What a person reads in the console and the panel: names for the ids rules keep (groups, agents,
brands, teammates, from what Baton synced of the helpdesk) and words for Baton's internal keys
(categories, signals, actions, rule paths).

Rules keep ids and keys, so they survive a group being renamed; every page shows names instead.
An id the helpdesk no longer knows is shown as such ("a group that no longer exists (8002)"), never
as a bare number, so the admin sees what to fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from integration.core.rules import DEFAULT_RULES, Rules

HELPDESKS = {"zendesk": "Zendesk", "freshdesk": "Freshdesk", "intercom": "Intercom"}
GROUP_WORD = {"intercom": "team"}  # what the helpdesk calls a group
AGENT_WORD = {"intercom": "teammate"}  # and an agent
BRAND_WORD = {"zendesk": "brand", "freshdesk": "product"}  # helpdesks that have brands, and their word for one
HAS_SKILLS = {"zendesk", "freshdesk"}  # helpdesks whose agents have skills (Intercom's have none)

# what Baton does, as a choice (the rules' actions) and as what happened (a decision's action)
ACTIONS = {"escalate": "hand over now", "offer_human": "offer a person", "raise_priority": "raise the priority only",
           "ignore": "ignore it"}
DECIDED = {"escalate": "handed over", "offer_human": "offered a person", "continue": "kept with the bot"}
TIERS = {"1": "first line", "2": "specialists", "3": "engineering or account team"}

# the categories a decision can carry besides a topic's or a segment's name, and the signals' codes
SIGNALS = {"explicit_request": "asked for a person", "sentiment": "frustration", "frustration": "frustration",
           "loop": "bot going in circles", "segment": "priority customer", "repeat_contact": "repeat contacts",
           "bot_confidence": "bot unsure of its answer", "language": "language the bot does not speak",
           "model": "learned model", "risky_topic": "risky topic"}
MESSAGE_KINDS = {"handoff": "handing over", "wait": "the expected wait", "after_hours": "after hours",
                 "offer": "offering a person", "team": "how a team is named"}
DAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
        "sat": "Saturday", "sun": "Sunday"}
CHANNELS = {"messaging": "messaging", "chat": "chat", "email": "email", "web": "web form", "phone": "phone",
            "social": "social media", "api": "API", "other": "other channels"}

# a rule's fields as an admin knows them (a field not named here reads as its name in words)
FIELDS = {
    "action": "what Baton does", "priority": "priority", "tier": "tier", "threshold": "threshold",
    "offer_threshold": "offer a person from", "similarity": "how alike a rephrase is",
    "rephrases": "the same question asked again (times)", "bot_repeats": "the bot's same answer (times)",
    "stalled_exchanges": "exchanges in a row without progress", "max_exchanges": "customer turns at most",
    "tiers": "customer tiers or tags", "churn_risk": "churn risk from", "contacts": "earlier contacts",
    "days": "within days", "field": "ticket field holding the bot's confidence",
    "tag_prefix": "tag holding the bot's confidence (prefix)", "bot_languages": "languages the bot speaks",
    "unread_escalates": "hand over languages Baton cannot read", "enabled": "on", "label": "name",
    "phrases": "phrases", "exclude": "phrases that rule it out", "group": "group", "skills": "skills",
    "default_group": "everything else goes to", "match_language": "prefer agents who speak the customer's language",
    "min_samples": "first replies needed before quoting a wait", "notify_customer": "tell the customer",
    "discreet": "categories whose messages never name a team", "timezone": "time zone", "weekly": "weekly hours",
    "holidays": "public holidays of", "closed": "closed on", "channels": "channels", "brands": "brands",
    "groups": "groups", "tags": "with one of the tags", "exclude_tags": "without the tags",
    "bot_only": "only conversations a bot took part in",
}
SECTION_OF_RULE = {"explicit_request": "Asking for a person", "sentiment": "Frustration", "topics": "Topic",
                   "loop": "Bot going in circles", "segment": "Priority customers", "repeat_contact": "Repeat contacts",
                   "bot_confidence": "Bot confidence", "language": "Languages", "model": "Learned model",
                   "routing": "Routing", "scope": "Scope"}


def cap(text: str) -> str:
    """The first letter capitalized, the rest as written ("VIP customers" stays)."""
    return text[:1].upper() + text[1:]


def words(key: str | None) -> str:
    """An internal key as words ("after_hours" → "after hours")."""
    return (key or "").replace("_", " ").strip()


@dataclass
class Names:
    """The helpdesk's names for the ids the rules keep, as Baton last synced them."""

    helpdesk: str = "zendesk"
    groups: dict[str, str] = field(default_factory=dict)  # id → name
    agents: dict[str, str] = field(default_factory=dict)
    brands: dict[str, str] = field(default_factory=dict)
    rules: Rules = DEFAULT_RULES
    skills: dict[str, str] = field(default_factory=dict)  # id → "French (Language)"
    tags: tuple[str, ...] = ()  # the helpdesk's tags, the most used first (tags are names: no ids)

    @property
    def helpdesk_name(self) -> str:
        return HELPDESKS.get(self.helpdesk, self.helpdesk.capitalize())

    @property
    def group_word(self) -> str:
        return GROUP_WORD.get(self.helpdesk, "group")

    @property
    def brand_word(self) -> str:
        return BRAND_WORD.get(self.helpdesk, "brand")

    @property
    def agent_word(self) -> str:
        return AGENT_WORD.get(self.helpdesk, "agent")

    @property
    def has_brands(self) -> bool:
        return self.helpdesk in BRAND_WORD

    @property
    def has_skills(self) -> bool:
        return self.helpdesk in HAS_SKILLS

    @staticmethod
    def gone(word: str, key: Any) -> str:
        """An id the helpdesk no longer has, as words: "a group that no longer exists (8002)"."""
        return f"{'an' if word[:1] in 'aeiou' else 'a'} {word} that no longer exists ({key})"

    def group(self, gid: Any) -> str:
        """A group's name; an id the roster does not hold is named as missing."""
        if gid in (None, ""):
            return f"no {self.group_word}"
        gid = str(gid)
        if gid in self.groups:
            return self.groups[gid]
        return self.gone(self.group_word, gid)

    def known_group(self, gid: Any) -> bool:
        return str(gid) in self.groups

    def agent(self, aid: Any) -> str:
        if aid in (None, ""):
            return "nobody"
        return self.agents.get(str(aid)) or self.gone(self.agent_word, aid)

    def brand(self, bid: Any) -> str:
        return self.brands.get(str(bid)) or self.gone(self.brand_word, bid)

    def skill(self, sid: Any) -> str:
        return self.skills.get(str(sid)) or self.gone("skill", sid)

    def brand_choices(self) -> list[tuple[str, str]]:
        return sorted(self.brands.items(), key=lambda kv: kv[1].lower())

    def skill_choices(self) -> list[tuple[str, str]]:
        return sorted(self.skills.items(), key=lambda kv: kv[1].lower())

    def category(self, key: str | None) -> str:
        """A decision's category as words: a topic's own name, a signal, a customer segment."""
        if not key:
            return ""
        topic = self.rules.topics.get(key)
        if topic is not None:
            return topic.label
        if key in SIGNALS:
            return SIGNALS[key]
        if key in self.rules.segment.tiers:
            return f"{key} customer"
        return words(key)

    def reason(self, code: str | None) -> str:
        """A reason's code ("risky_topic:refund", "loop") as words."""
        signal, _, topic = (code or "").partition(":")
        if topic:
            return f"topic: {self.category(topic)}"
        return SIGNALS.get(signal, words(signal))

    def categories(self) -> list[tuple[str, str]]:
        """Every category a handoff can carry, (key, words), topics first: what routing and the
        messages are set per."""
        out = [(k, cap(t.label)) for k, t in sorted(self.rules.topics.items(), key=lambda kv: kv[1].label.lower())]
        out += [(k, cap(SIGNALS[k])) for k in ("explicit_request", "frustration", "loop", "repeat_contact",
                                          "bot_confidence", "language", "model")]
        return out

    def group_choices(self) -> list[tuple[str, str]]:
        return sorted(self.groups.items(), key=lambda kv: kv[1].lower())

    def agent_choices(self) -> list[tuple[str, str]]:
        return sorted(self.agents.items(), key=lambda kv: kv[1].lower())

    def message_kind(self, key: str) -> str:
        kind, _, category = key.partition(":")
        what = MESSAGE_KINDS.get(kind, words(kind))
        return f"{what}, for {self.category(category)}" if category else what

    def path(self, path: str) -> str:
        """A rule's path ("topics.refund.action", "routing.hours.8002.weekly.mon") as words."""
        parts = path.split(".")
        head, rest = parts[0], parts[1:]
        if head == "topics" and rest:
            topic = self.category(rest[0])
            return f"Topic “{topic}”" + (f": {self._field(rest[1:])}" if rest[1:] else "")
        if head == "routing" and rest:
            return self._routing(rest)
        if head == "scope" and rest and rest[0] == "brands":
            return f"Scope: {self.brand_word}s"
        title = SECTION_OF_RULE.get(head, words(head).capitalize())
        return f"{title}: {self._field(rest)}" if rest else title

    def _routing(self, rest: list[str]) -> str:
        what, keys = rest[0], rest[1:]
        if what == "categories" and keys:
            tail = f" ({FIELDS.get(keys[1], words(keys[1]))})" if len(keys) > 1 and keys[1] != "group" else ""
            return f"Routing: {self.category(keys[0])} goes to{tail}"
        if what == "segments" and keys:
            return f"Routing: {keys[0]} customers go to"
        if what == "tiers" and keys:
            return f"Routing: tier {keys[0]} ({TIERS.get(keys[0], '')}) goes to"
        if what == "hours" and keys:
            field_ = keys[1:]
            if field_[:1] == ["weekly"] and len(field_) > 1:
                return f"Hours of {self.group(keys[0])}: {DAYS.get(field_[1], field_[1])}"
            return f"Hours of {self.group(keys[0])}" + (f": {self._field(field_)}" if field_ else "")
        if what == "messages" and keys:
            return f"Message for {self.message_kind(keys[0])}" + (f" ({keys[1]})" if len(keys) > 1 else "")
        if what == "public_names" and keys:
            return f"Name customers see for {self.group(keys[0])}"
        if what == "sla" and keys:
            return "Handoff SLA: " + ("every other category" if keys[0] == "*" else self.category(keys[0]))
        return f"Routing: {self._field(rest)}"

    @staticmethod
    def _field(rest: list[str]) -> str:
        if not rest:
            return ""
        if rest[0] == "weekly" and len(rest) > 1:
            return DAYS.get(rest[1], rest[1])
        return " · ".join(FIELDS.get(p, words(p)) for p in rest)

    def value(self, path: str, value: Any) -> str:
        """A rule's value as words: group ids as names, actions and categories as words, lists joined."""
        if value is None:
            return "—"
        parts = path.split(".")
        last = parts[-1]
        if self._is_group(parts):
            items = value if isinstance(value, (list, tuple)) else [value]
            return ", ".join(self.group(v) for v in items) or "any"
        if last == "action":
            return ACTIONS.get(str(value), words(str(value)))
        if last == "tier":
            return f"{value} ({TIERS.get(str(value), '')})"
        if last == "discreet" and isinstance(value, (list, tuple)):
            return ", ".join(self.category(v) for v in value) or "none"
        if last == "channels" and isinstance(value, (list, tuple)):
            return ", ".join(CHANNELS.get(v, v) for v in value) or "every channel"
        if last == "brands" and isinstance(value, (list, tuple)):
            return ", ".join(self.brand(v) for v in value) or f"every {self.brand_word}"
        if last == "skills" and isinstance(value, (list, tuple)):
            return ", ".join(self.skill(v) for v in value) or "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value)) if value else "none"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        return str(value)

    @staticmethod
    def _is_group(parts: list[str]) -> bool:
        if parts[:1] == ["routing"]:
            return (parts[1:2] == ["default_group"] or parts[1:2] in (["segments"], ["tiers"]) and len(parts) == 3
                    or parts[1:2] == ["categories"] and parts[-1] == "group")
        return parts == ["scope", "groups"]


def names_for(store: Any, inst: Any, rules: Rules | None = None) -> Names:
    """The names Baton synced for an installation (its roster: groups or teams, agents or
    teammates; brands or products when the connector syncs them) and its rules' own words."""
    data, _ = store.installations.roster(inst.id)
    groups = {str(g["id"]): str(g.get("name") or g["id"]) for g in data.get("groups") or () if isinstance(g, Mapping)}
    agents = {str(a["id"]): str(a.get("name") or a["id"]) for a in data.get("agents") or () if isinstance(a, Mapping)}
    for a in data.get("teammates") or ():  # Intercom: every teammate, not only those who take handoffs
        if isinstance(a, Mapping):
            agents.setdefault(str(a["id"]), str(a.get("name") or a["id"]))
    brands = {str(b["id"]): str(b.get("name") or b["id"]) for b in data.get("brands") or () if isinstance(b, Mapping)}
    skills = {str(k["id"]): str(k.get("name") or k["id"]) + (f" ({k['kind']})" if k.get("kind") else "")
              for k in data.get("skills") or () if isinstance(k, Mapping)}
    tags = tuple(str(t) for t in data.get("tags") or () if isinstance(t, str))
    return Names(inst.provider, groups, agents, brands, rules or DEFAULT_RULES, skills, tags)
