"""The rules read as sentences, section by section ("When the customer asks for a person → hand
over now, priority high"), with names instead of ids: what an admin reads at the top of each
section of the rules page, to know what the section does before changing it."""
from __future__ import annotations

from typing import Any

from integration.core.routing import DAYS
from integration.core.rules import Rules, SignalRule
from integration.service.console.words import ACTIONS, CHANNELS, TIERS, Names

SHORT_DAYS = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}


def act(rule: SignalRule) -> str:
    """What a rule does, in words: "hand over now, priority high, to specialists (tier 2)"."""
    if rule.action == "ignore":
        return "nothing (ignored)"
    if rule.action == "raise_priority":
        return f"raise the priority to {rule.priority}"
    tier = f", to {TIERS[str(rule.tier)]} (tier {rule.tier})" if rule.tier > 1 else ""
    return f"{ACTIONS.get(rule.action, rule.action)}, priority {rule.priority}{tier}"


def _list(items: list[str], last: str = "or") -> str:
    items = [i for i in items if i]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def sentences(rules: Rules, names: Names) -> dict[str, list[str]]:
    names.rules = rules
    return {"handover": _handover(rules), "topics": _topics(rules), "customers": _customers(rules, names),
            "routing": _routing(rules, names), "hours": _hours(rules, names), "messages": _messages(rules, names),
            "scope": _scope(rules, names)}


def _handover(r: Rules) -> list[str]:
    out = [f"When the customer asks for a person → {act(r.explicit_request)}."]
    s = r.sentiment
    line = f"When the customer's frustration reaches {s.threshold:g} → {act(s)}"
    if s.action == "escalate" and s.offer_threshold < s.threshold:
        line += f"; from {s.offer_threshold:g} → offer a person"
    out.append(line + ".")
    lp = r.loop
    out.append(f"When the bot goes in circles (the same question {lp.rephrases} times, the same answer "
               f"{lp.bot_repeats} times, {lp.stalled_exchanges} exchanges without progress, or {lp.max_exchanges} "
               f"customer turns) → {act(lp)}.")
    rc = r.repeat_contact
    out.append(f"When the customer already contacted you {rc.contacts} times within {rc.days} days → {act(rc)}.")
    out.append(f"When the bot's confidence is below {r.bot_confidence.threshold:g} → {act(r.bot_confidence)}.")
    lang = r.language
    if lang.bot_languages:
        out.append(f"When the customer writes in a language other than {_list(list(lang.bot_languages))} → "
                   f"{act(lang)}.")
    else:
        out.append("The bot speaks every language: the customer's language never hands over"
                   + (", except languages Baton cannot read." if lang.unread_escalates else "."))
    m = r.model
    out.append(f"When the learned model finds a person needed with {m.threshold:g} or more → {act(m)}." if m.enabled
               else "The learned model is off.")
    return out


def _phrases(phrases: tuple[str, ...]) -> str:
    plain = [p for p in phrases if not p.startswith("re:")][:3]
    shown = ", ".join(f"“{p}”" for p in plain)
    more = len(phrases) - len(plain)
    return shown + (f" and {more} more" if more and shown else f"{more} patterns" if more else "")


def _topics(r: Rules) -> list[str]:
    if not r.topics:
        return ["No topics: only the other signals hand over."]
    return [f"When the customer raises {t.label} ({_phrases(t.phrases)}) → {act(t)}."
            for _, t in sorted(r.topics.items(), key=lambda kv: kv[1].label.lower())]


def _customers(r: Rules, names: Names) -> list[str]:
    seg = r.segment
    who = [f"whose tier or tag is {_list(list(seg.tiers))}" if seg.tiers else "",
           f"whose churn risk is {seg.churn_risk:g} or more"]
    out = [f"Customers {_list(who)} → {act(seg)}."]
    out += [f"{key.capitalize()} customers go to {names.group(gid)}." for key, gid in r.routing.segments.items()]
    return out


def _routing(r: Rules, names: Names) -> list[str]:
    rt = r.routing
    out = []
    for cat, route in sorted(rt.categories.items(), key=lambda kv: names.category(kv[0])):
        skills = f" (agents with {_list([names.skill(k) for k in route.skills], 'and')})" if route.skills else ""
        out.append(f"{names.category(cat).capitalize()} → {names.group(route.group) if route.group else 'its tier'}"
                   f"{skills}.")
    out += [f"Tier {t} ({TIERS.get(t, '')}) → {names.group(g)}." for t, g in sorted(rt.tiers.items())]
    out.append(f"Everything else → {names.group(rt.default_group)}." if rt.default_group
               else f"Everything else stays in the {names.group_word} it is in.")
    for cat, minutes in rt.sla.items():
        what = "every other category" if cat == "*" else names.category(cat)
        out.append(f"A handoff for {what} waiting {minutes} minutes for a first reply is routed again, with a "
                   f"higher priority.")
    return out


def weekly(spans: dict[str, tuple[str, ...]] | Any) -> str:
    """Opening hours per day, consecutive days with the same hours together: "Mon–Fri 09:00–17:00"."""
    runs: list[tuple[list[str], tuple[str, ...]]] = []
    for d in DAYS:
        hours = tuple(spans.get(d, ()))
        if runs and runs[-1][1] == hours and DAYS.index(runs[-1][0][-1]) == DAYS.index(d) - 1:
            runs[-1][0].append(d)
        else:
            runs.append(([d], hours))
    parts = []
    for days, hours in runs:
        if not hours:
            continue
        when = SHORT_DAYS[days[0]] + (f"–{SHORT_DAYS[days[-1]]}" if len(days) > 1 else "")
        parts.append(f"{when} {', '.join(h.replace('-', '–') for h in hours)}")
    return "; ".join(parts) or "closed every day"


def _hours(r: Rules, names: Names) -> list[str]:
    out = []
    for gid, h in r.routing.hours.items():
        closed = [f"{h.holidays} public holidays" if h.holidays else "", ", ".join(h.closed)]
        extra = f", closed on {_list(closed, 'and')}" if any(closed) else ""
        out.append(f"{names.group(gid)}: {weekly(h.weekly)} ({h.timezone}){extra}.")
    out.append(f"Every other {names.group_word} is always open." if out
               else f"Every {names.group_word} is always open: no business hours are set.")
    return out


def _messages(r: Rules, names: Names) -> list[str]:
    rt = r.routing
    out = ["Baton tells the customer in the conversation when it hands over or offers a person." if rt.notify_customer
           else "Baton writes nothing to the customer (your bot announces the handoff)."]
    for kind, texts in rt.messages.items():
        for lang, text in texts.items():
            out.append(f"{names.message_kind(kind).capitalize()} ({lang}): “{text}”")
    if not rt.messages:
        out.append("The messages are Baton's own, in the customer's language.")
    out += [f"Customers may read {names.group(g)} named “{n}”." for g, n in rt.public_names.items()]
    if rt.discreet:
        out.append(f"Messages about {_list([names.category(c) for c in rt.discreet], 'and')} never name a team.")
    return out


def _scope(r: Rules, names: Names) -> list[str]:
    s = r.scope
    parts = []
    if s.channels:
        parts.append(f"on {_list([CHANNELS.get(c, c) for c in s.channels])}")
    if s.groups:
        parts.append(f"in {_list([names.group(g) for g in s.groups])}")
    if s.brands:
        parts.append(f"of the {names.brand_word} {_list([names.brand(b) for b in s.brands])}")
    if s.tags:
        parts.append(f"tagged {_list(list(s.tags))}")
    if s.exclude_tags:
        parts.append(f"not tagged {_list(list(s.exclude_tags))}")
    if s.bot_only:
        parts.append("where a bot took part")
    if not parts:
        return ["Baton watches every conversation."]
    return [f"Baton watches only conversations {'; '.join(parts)}. It leaves the others alone."]
