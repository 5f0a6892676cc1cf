"""The rules as an HTML form and back, derived from the rules' own types (``integration.core.rules``):
a field added to a rule appears in the console without touching this file, and validation stays
``load_rules``'s alone — its problems ("sentiment.threshold: must be between 0 and 1") are put
next to the input they name.

Form names are the rules' paths, with rows of a mapping numbered: ``sentiment.threshold``,
``topics[2].phrases``, ``routing.hours[0].weekly.mon``. Each mapping row has ``.__key__`` and a
``.__remove__`` box, and every mapping ends with one empty row to add an entry. A list whose
values come from a known set is a box per value (``scope.channels.__pick__.email``) beside an
empty ``scope.channels`` that says the list is on the form. Tags and skills are a combobox: the
chosen ones are such boxes, and one more is added by name (``scope.tags``, typed: a tag may be new)
or from a list (``routing.categories[0].skills.__add__``, a skill's id: no skill is typed).

What the admin reads is names, never ids: groups are chosen by their name from what Baton synced
of the helpdesk (the rules keep the id), categories, actions and tiers are words, a topic's key is
derived from its name. The rules are shown in sections (``SECTIONS``), one at a time.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Mapping, Sequence, get_args, get_origin, get_type_hints

from integration.core.routing import DAYS, PLACEHOLDERS
from integration.core.rules import DEFAULT_RULES, PRIORITIES, Rules, RulesError, load_rules
from integration.service.console.pickers import (TAG_FIELDS, Field, combo_field, group_field, pick_choices,
                                                 unknown_label)
from integration.service.console.words import (ACTIONS, DAYS as DAY_WORDS, FIELDS, MESSAGE_KINDS, TIERS, Names,
                                               words)

HELP = {
    "sentiment.threshold": "frustration score (0–1) that hands over",
    "sentiment.offer_threshold": "between this and the threshold: offer a person",
    "loop.similarity": "how alike two customer messages must be to count as asking again (0–1)",
    "segment.tiers": "customer tiers or tags handed to a person",
    "segment.churn_risk": "churn risk (0–1) from which a customer is handed over",
    "bot_confidence.threshold": "the bot's confidence below this", "bot_confidence.field": "ticket field holding the confidence (as your bot writes it)",
    "language.bot_languages": "languages the bot speaks (ISO codes such as en, fr; one per line; empty: all)",
    "model.threshold": "probability that a person is needed", "phrases": "one per line; * ends a prefix (refund*); re: starts a regular expression",
    "exclude": "phrases that mean it is not this topic, one per line",
    "routing.default_group": "where a handoff goes when nothing above routes it",
    "routing.min_samples": "first replies needed before quoting a wait",
    "routing.notify_customer": "tell the customer in the conversation (many bots announce the handoff themselves)",
    "routing.discreet": "messages about these categories never name a team",
    "scope.channels": "none ticked: every channel", "scope.groups": "none ticked: every group",
    "scope.brands": "none ticked: every one", "scope.tags": "none: any tags",
    "scope.bot_only": "only conversations a bot took part in",
    "skills": "only agents with every one of these skills",
    "weekly": "HH:MM-HH:MM, several separated by commas; empty: closed",
    "holidays": "country code of the public holidays (FR, US, …)", "closed": "closed dates, YYYY-MM-DD, one per line",
    "timezone": "e.g. Europe/Paris, America/New_York, UTC",
    "routing.sla": "minutes (in the group's business hours) a handed-over conversation may wait for a first reply; then Baton re-routes it once and raises its priority",
    "routing.messages": "{team}, {wait}, {minutes}, {opening} are filled in",
}
TITLES = {"explicit_request": "The customer asks for a person", "sentiment": "Frustration", "topics": "Topics",
          "loop": "The bot goes in circles", "segment": "Priority customers", "repeat_contact": "Repeat contacts",
          "bot_confidence": "The bot is unsure", "language": "Languages", "model": "Learned model", "routing": "Routing",
          "scope": "Which conversations Baton watches",
          "routing.categories": "Where each category goes", "routing.segments": "Where priority customers go",
          "routing.tiers": "Where each tier goes", "routing.hours": "Business hours",
          "routing.messages": "What the customer is told", "routing.public_names": "Team names customers may see",
          "routing.sla": "Handoff SLA"}
# a field's label: its words (words.FIELDS), capitalized; these read better on a form
LABELS = {"action": "What Baton does", "label": "Name", "group": "Goes to", "default_group": "Everything else goes to",
          "enabled": "Use the learned model", "weekly": "Weekly hours"}
ADD = {"topics": "Add a topic", "routing.categories": "Route another category",
       "routing.segments": "Route another customer tier", "routing.tiers": "Route another tier",
       "routing.hours": "Set the hours of another group", "routing.messages": "Add a message",
       "routing.public_names": "Name another group for customers", "routing.sla": "Add an SLA"}

# The console's sections: each shows its own rules, one at a time (the others stay in the form,
# hidden, so one save keeps them all). A rule added to the engine and named nowhere here lands in
# the first section (a top-level rule) or in routing (a routing field): it is never left out.
SECTIONS = (
    ("handover", "When to hand over", "What makes Baton hand a conversation to a person, or offer one.",
     ("explicit_request", "sentiment", "loop", "repeat_contact", "bot_confidence", "language", "model")),
    ("topics", "Topics", "Subjects the bot should not handle alone, recognised by the customer's words.", ("topics",)),
    ("customers", "Customers", "Customers who go to a person whatever they ask, and where they go.",
     ("segment", "routing.segments")),
    ("routing", "Routing", "Which {group} takes each kind of handoff.",
     ("routing.categories", "routing.tiers", "routing.default_group", "routing.match_language",
      "routing.min_samples", "routing.sla")),
    ("hours", "Hours", "When each {group} works; outside its hours the customer is told when it opens.",
     ("routing.hours",)),
    ("messages", "Messages", "What the customer is told when Baton hands over or offers a person.",
     ("routing.notify_customer", "routing.messages", "routing.public_names", "routing.discreet")),
    ("scope", "Scope", "Which conversations Baton looks at at all.", ("scope",)),
)


@dataclass
class Row:
    """One entry of a mapping: its key, its fields, a box to remove it."""

    prefix: str
    key: Field
    fields: list[Any]
    new: bool = False
    error: str = ""
    title: str = ""  # the legend: the entry in words
    folded: list[Any] = field(default_factory=list)  # fields shown on demand (a topic's phrases)
    fold_title: str = ""


@dataclass
class Group:
    """A rule object or a mapping of them, as a fieldset."""

    name: str
    title: str
    fields: list[Any] = field(default_factory=list)  # Field | Group
    rows: list[Row] | None = None  # set for a mapping
    help: str = ""
    add: str = ""  # the legend of a mapping's empty row


@dataclass
class Section:
    key: str
    title: str
    intro: str
    items: list[Any]  # Field | Group
    sentences: list[str] = field(default_factory=list)
    errors: int = 0


def _is_mapping(hint: Any) -> bool:
    return get_origin(hint) in (MappingABC, dict)


def label(name: str) -> str:
    return LABELS.get(name) or FIELDS.get(name, name.replace("_", " ")).capitalize()


# rules → form

def form_for(rules: Rules, form: Mapping[str, str] | None = None, problems: Sequence[str] = (),
             submitted: Mapping[str, str] | None = None, names: Names | None = None) -> tuple[list[Section], list[str]]:
    """The form's sections for ``rules``; each problem is put next to its input, with the value the
    user typed there (``form``, whose rows ``submitted`` maps from the rules' paths). Returns the
    sections and the problems no input owns."""
    names = names or Names(rules=rules)
    names.rules = rules
    groups = [_group(getattr(rules, f.name), f.name, TITLES.get(f.name, label(f.name)), hint, names)
              for f, hint in _hints(Rules)]
    index: dict[str, Any] = {}
    for g in groups:
        _index(g, index)
    rendered = {f"{g.name}.{row.key.value}": row.prefix for g in index.values()
                if isinstance(g, Group) and g.rows for row in g.rows if row.key.value}
    for g in index.values():  # a message row is one text per kind and language
        if isinstance(g, Group) and g.rows and g.name.endswith("messages"):
            for row in g.rows:
                if row.key.value:
                    rendered[f"{g.name}.{row.key.value}.{row.fields[0].value}"] = f"{row.prefix}.__value__"
    orphans = []
    for problem in problems:
        path, _, message = problem.partition(": ")
        path = _ITEM.sub("", path)
        target = _owner(_translate(path, rendered), index)
        if target is None:
            orphans.append(problem)
            continue
        target.error = (target.error + " " if target.error else "") + message
        typed = _translate(path, submitted or {})
        if form is not None and typed in form and target.kind not in ("checkbox", "picks", "combo", "hidden"):
            target.value = form[typed]
    return _sections(groups, names.group_word), orphans


def _sections(groups: list[Group], group_word: str = "group") -> list[Section]:
    items: dict[str, Any] = {}
    for g in groups:
        items[g.name] = g
        if g.name == "routing":
            for f in g.fields:
                items[f.name] = f
    placed = {name for _, _, _, names in SECTIONS for name in names}
    out = []
    for key, title, intro, wanted in SECTIONS:
        chosen = [items[n] for n in wanted if n in items]
        if key == "handover":  # a new top-level rule
            chosen += [g for g in groups if g.name not in placed and g.name != "routing"]
        if key == "routing":  # a new routing field
            chosen += [items[n] for n in items if n.startswith("routing.") and n not in placed]
        out.append(Section(key, title, intro.format(group=group_word), chosen, errors=sum(_errors(i) for i in chosen)))
    return out


def _errors(item: Any) -> int:
    if isinstance(item, Field):
        return 1 if item.error else 0
    if isinstance(item, Row):
        return (1 if item.key.error else 0) + sum(_errors(f) for f in (*item.fields, *item.folded))
    return sum(_errors(f) for f in item.fields) + sum(_errors(r) for r in item.rows or ())


def sections_naming(rules: Rules, gid: str) -> list[tuple[str, str]]:
    """The sections of the rules that name a group, (key, title), in the order of the tabs: where to
    fix a group the helpdesk no longer has."""
    rt = rules.routing
    where = {"routing": gid == rt.default_group or gid in rt.tiers.values()
                        or any(c.group == gid for c in rt.categories.values()),
             "customers": gid in rt.segments.values(), "hours": gid in rt.hours,
             "messages": gid in rt.public_names, "scope": gid in rules.scope.groups}
    return [(key, title) for key, title, _, _ in SECTIONS if where.get(key)]


def section_of_problem(sections: Sequence[Section]) -> str | None:
    """The first section holding a refused value (shown first after a refused save)."""
    return next((s.key for s in sections if s.errors), None)


def _hints(cls: type) -> list[tuple[Any, Any]]:
    hints = get_type_hints(cls)
    return [(f, hints[f.name]) for f in fields(cls)]


def _group(obj: Any, path: str, title: str, hint: Any, names: Names) -> Group:
    if _is_mapping(hint) or isinstance(obj, Mapping):
        return _mapping(obj, path, title, hint, names)
    g = Group(path, title, help=HELP.get(path, ""))
    for f, sub in _hints(type(obj)):
        item = _field(getattr(obj, f.name), f"{path}.{f.name}", f.name, sub, names)
        if item is not None:  # None: the helpdesk has no such thing (Intercom's brands, its skills)
            g.fields.append(item)
    return g


GROUP_FIELDS = ("routing.default_group",)
TIER_CHOICES = [(t, f"{t} · {what}") for t, what in TIERS.items()]


def _field(value: Any, name: str, short: str, hint: Any, names: Names) -> Any:
    help_ = HELP.get(name, HELP.get(short, ""))
    if is_dataclass(hint):
        return _group(value, name, label(short), hint, names)
    if _is_mapping(hint):
        return _mapping(value, name, TITLES.get(name, label(short)), hint, names)
    if short == "action":
        return Field(name, "What Baton does", "select", value, list(ACTIONS.items()), help_)
    if short == "priority":
        return Field(name, "Priority", "select", value, [(p, p) for p in PRIORITIES], help_)
    if short == "tier":
        return Field(name, "Tier", "select", str(value), TIER_CHOICES, help_)
    if name in GROUP_FIELDS or (short == "group" and name.startswith("routing.categories")):
        return group_field(name, label(short).replace("group", names.group_word), value, names,
                           optional=f"no {names.group_word}" if short == "group" else f"no default {names.group_word}",
                           help_=help_)
    if hint is bool:
        return Field(name, label(short), "checkbox", bool(value), help=help_)
    if hint in (int, float):
        return Field(name, label(short), "number", value, help=help_, step="1" if hint is int else "any")
    if get_origin(hint) is tuple and (short == "skills" or name in TAG_FIELDS):
        return combo_field(name, label(short), list(value or ()), short, names, help_)
    if name == "scope.brands" and not names.has_brands and not value:
        return None
    if get_origin(hint) is tuple:
        choices = pick_choices(name, names)
        if choices is not None:
            chosen = list(value or ())
            known = {v for v, _ in choices}
            choices += [(v, unknown_label(name, v, names)) for v in chosen if v not in known]
            f = Field(name, f"{names.brand_word.capitalize()}s" if name == "scope.brands" else label(short), "picks",
                      chosen, choices, help_)
            missing = [v for v in chosen if v not in known]
            if missing and name in ("scope.groups", "scope.brands"):
                word = names.group_word if name == "scope.groups" else names.brand_word
                f.warning = (f"{len(missing)} of the ticked {word}s {'is' if len(missing) == 1 else 'are'} "
                             f"no longer in {names.helpdesk_name}: untick {'it' if len(missing) == 1 else 'them'}.")
            return f
        return Field(name, label(short), "lines", "\n".join(value or ()), help=help_)
    return Field(name, label(short), "text", "" if value is None else value, help=help_)


def _mapping(value: Mapping[str, Any], path: str, title: str, hint: Any, names: Names) -> Group:
    _, item = get_args(hint)
    g = Group(path, title, rows=[], help=HELP.get(path, ""), add=ADD.get(path, "Add"))
    entries = list(value.items())
    if _is_mapping(item) and path.endswith("messages"):  # kind → language → text: one row per text
        entries = [((kind, lang), text) for kind, texts in value.items() for lang, text in texts.items()]
    if path == "topics":
        entries.sort(key=lambda kv: kv[1].label.lower())
    for i, (key, sub) in enumerate(entries + [(None, None)]):
        prefix = f"{path}[{i}]"
        g.rows.append(_row(prefix, key, sub, item, path, names))  # type: ignore[union-attr]
    return g


def _row(prefix: str, key: Any, value: Any, item: Any, path: str, names: Names) -> Row:
    new = key is None
    add = ADD.get(path, "Add")
    if path.endswith("messages"):
        kind, lang = key if key else ("", "")
        name = f"{prefix}.__value__"
        return Row(prefix, _key_field(prefix, path, kind, names), [
            Field(f"{prefix}.__lang__", "Language", "text", lang, help="ISO code: en, fr, es …"),
            Field(name, "Text", "textarea", value or "", render_into=f"render-{prefix}")], new,
            title=add if new else f"{names.message_kind(kind).capitalize()} ({lang})")
    key_field = _key_field(prefix, path, key or "", names)
    title = add if new else _row_title(path, key, value, names)
    if is_dataclass(item):
        obj = value if value is not None else _blank(item)
        inner = _group(obj, prefix, "", item, names)
        if path.endswith("hours"):  # weekly: one input per day
            weekly = next(f for f in inner.fields if f.name.endswith(".weekly"))
            inner.fields[inner.fields.index(weekly)] = Group(weekly.name, "Weekly hours", [
                Field(f"{prefix}.weekly.{d}", DAY_WORDS[d], "text", ", ".join((obj.weekly or {}).get(d, ())),
                      help=HELP["weekly"] if d == "mon" else "") for d in DAYS])
        row = Row(prefix, key_field, inner.fields, new, title=title)
        if path == "topics":  # what a topic does stays in view; its name and phrases fold
            folded = [f for f in row.fields if f.name.endswith((".label", ".phrases", ".exclude"))]
            row.fields = [f for f in row.fields if f not in folded]
            if new:
                row.fields = folded + row.fields
            else:
                row.folded = folded
                row.fold_title = (f"Name and phrases ({len(obj.phrases)} phrase{'s' if len(obj.phrases) != 1 else ''}"
                                  + (f", {len(obj.exclude)} exclusion{'s' if len(obj.exclude) != 1 else ''}"
                                     if obj.exclude else "") + ")")
        return row
    if path in ("routing.segments", "routing.tiers"):
        inner_value = group_field(f"{prefix}.__value__", f"Goes to", value, names, optional=f"no {names.group_word}")
    elif path == "routing.sla":
        inner_value = Field(f"{prefix}.__value__", "Minutes", "number", "" if value is None else value, step="1")
    elif path == "routing.public_names":
        inner_value = Field(f"{prefix}.__value__", "Name customers see", "text", value or "")
    else:
        inner_value = Field(f"{prefix}.__value__", "Value", "text", "" if value is None else value)
    return Row(prefix, key_field, [inner_value], new, title=title)


def _key_field(prefix: str, path: str, key: str, names: Names) -> Field:
    """What an entry is about, chosen by name: a topic's key stays hidden (Baton derives it from
    the topic's name), groups and categories are picked, a message's kind too."""
    name = f"{prefix}.__key__"
    gw = names.group_word
    if path == "topics":
        return Field(name, "Key", "hidden", key)
    if path in ("routing.hours", "routing.public_names"):
        return group_field(name, gw.capitalize(), key, names, optional=f"choose a {gw}")
    if path in ("routing.categories", "routing.sla"):
        choices = ([("*", "every other category")] if path == "routing.sla" else []) + names.categories()
        if key and key not in {v for v, _ in choices}:
            choices.append((key, names.category(key)))
        return Field(name, "Category", "select", key, choices, optional="choose a category")
    if path == "routing.tiers":
        return Field(name, "Tier", "select", key, TIER_CHOICES, optional="choose a tier")
    if path == "routing.segments":
        return Field(name, "Customer tier or tag", "text", key,
                     suggest=tuple(dict.fromkeys([*names.rules.segment.tiers, *names.tags])))
    if path == "routing.messages":
        choices = [(k, MESSAGE_KINDS[k].capitalize()) for k in PLACEHOLDERS]
        choices += [(f"{k}:{c}", f"{MESSAGE_KINDS[k].capitalize()}, for {what}") for k in PLACEHOLDERS
                    if k != "team" for c, what in names.categories()]
        if key and key not in {v for v, _ in choices}:
            choices.append((key, names.message_kind(key)))
        return Field(name, "Kind", "select", key, choices, optional="choose a kind")
    return Field(name, "Name", "text", key)


def _row_title(path: str, key: str, value: Any, names: Names) -> str:
    if path == "topics":
        return str(getattr(value, "label", "") or words(key)).capitalize()
    if path in ("routing.hours", "routing.public_names"):
        return names.group(key)
    if path == "routing.categories":
        return f"{names.category(key).capitalize()} → {names.group(getattr(value, 'group', None))}"
    if path == "routing.sla":
        return f"{'Every other category' if key == '*' else names.category(key).capitalize()}: {value} min"
    if path in ("routing.segments", "routing.tiers"):
        what = f"{key} customers" if path == "routing.segments" else f"Tier {key} ({TIERS.get(str(key), '')})"
        return f"{what} → {names.group(value)}"
    return str(key)


def _blank(cls: type) -> Any:
    """An empty entry to add: required fields blank."""
    values = {f.name: ("" if f.type in ("str", str) else ()) for f in fields(cls)
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return cls(**values)


def _index(g: Group, out: dict[str, Any]) -> None:
    out[g.name] = g
    for f in g.fields:
        _index(f, out) if isinstance(f, Group) else out.__setitem__(f.name, f)
    for row in g.rows or ():
        out[row.prefix] = row
        out[row.key.name] = row.key
        for f in (*row.fields, *row.folded):
            _index(f, out) if isinstance(f, Group) else out.__setitem__(f.name, f)


_ITEM = re.compile(r"\[\d+\]$")


def _translate(path: str, aliases: Mapping[str, str]) -> str:
    """A rules path as a form name: ``topics.refund.phrases`` → ``topics[3].phrases``."""
    for key in sorted(aliases, key=len, reverse=True):
        if path == key or path.startswith(key + "."):
            return aliases[key] + path[len(key):]
    return path


def _owner(name: str, index: Mapping[str, Any]) -> Any:
    """The input a form name belongs to, or the nearest row holding it."""
    while name:
        found = index.get(name)
        if isinstance(found, (Field, Row)):
            if isinstance(found, Row):  # a problem of an entry: at its value (one number, one group), else at
                # what names it (a topic's key is hidden: at its name)
                if len(found.fields) == 1 and isinstance(found.fields[0], Field) and found.fields[0].name.endswith(".__value__"):
                    return found.fields[0]
                return found.key if found.key.kind != "hidden" else (found.folded or found.fields or [found.key])[0]
            return found
        name = name.rpartition(".")[0]
    return None


# form → rules

def rules_from_form(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The rules JSON the form describes (bad values left as typed, for ``load_rules`` to name), and
    the aliases from the rules' paths to the form's row names (``topics.refund`` → ``topics[3]``)."""
    aliases: dict[str, str] = {}
    data = {f.name: _read(f"{f.name}", hint, form, aliases) for f, hint in _hints(Rules)}
    # topics the form no longer lists are removed from the defaults
    data["topics"].update({name: None for name in DEFAULT_RULES.topics if name not in data["topics"]})
    return data, aliases


def _read(path: str, hint: Any, form: Mapping[str, str], aliases: dict[str, str]) -> Any:
    if path.endswith(".weekly"):
        return {d: [s.strip() for s in form.get(f"{path}.{d}", "").split(",") if s.strip()] for d in DAYS
                if form.get(f"{path}.{d}", "").strip()}
    if is_dataclass(hint):
        return _present({f.name: _read(f"{path}.{f.name}", sub, form, aliases) for f, sub in _hints(hint)})
    if _is_mapping(hint):
        _, item = get_args(hint)
        out: dict[str, Any] = {}
        i = 0
        while f"{path}[{i}].__key__" in form:
            prefix = f"{path}[{i}]"
            i += 1
            key = form[f"{prefix}.__key__"].strip()
            if path == "topics" and not key and not form.get(f"{prefix}.__remove__"):
                key = _topic_key(prefix, form, out)  # a new topic: its key comes from its name
            if form.get(f"{prefix}.__remove__") or not key:
                continue
            if path.endswith("messages"):
                lang = form.get(f"{prefix}.__lang__", "").strip() or "en"
                out.setdefault(key, {})[lang] = form.get(f"{prefix}.__value__", "")
                aliases[f"{path}.{key}.{lang}"] = f"{prefix}.__value__"
                continue
            aliases[f"{path}.{key}"] = prefix
            if is_dataclass(item):
                out[key] = _read_entry(prefix, item, form, aliases)
            elif (value := _read(f"{prefix}.__value__", item, form, aliases)) is not _ABSENT:
                out[key] = value
        return out
    raw = form.get(path)
    if hint is bool:
        return raw is not None
    if raw is None:
        return _ABSENT  # not on the form: the rule keeps its default
    if get_origin(hint) is tuple:  # typed lines, the boxes ticked among known values, one added from a list
        picked = [k[len(PICK) + len(path):] for k in form if k.startswith(path + PICK) and form.get(k)]
        added = [form.get(path + ADD_ONE, "").strip()]
        return list(dict.fromkeys(v for v in [*(line.strip() for line in raw.splitlines()), *picked, *added] if v))
    if hint in (int, float) or path.endswith(".tier"):
        return _number(raw.strip(), int if hint is int or path.endswith(".tier") else float)
    if "None" in str(hint):
        return raw.strip() or None
    return raw.strip()


PICK = ".__pick__."  # a list field's box: ``scope.channels.__pick__.email``
ADD_ONE = ".__add__"  # a combobox's choice from its list, without JavaScript: ``…skills.__add__``


def _topic_key(prefix: str, form: Mapping[str, str], taken: Mapping[str, Any]) -> str:
    """The key of a topic added on the form, from its name ("Damaged in shipping" →
    ``damaged_in_shipping``); "" for a row left empty."""
    name = (form.get(f"{prefix}.label") or "").strip()
    if not name and not (form.get(f"{prefix}.phrases") or "").strip():
        return ""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_).strip("_")[:36] or "new_topic"
    key = key if key[0].isalpha() else f"t_{key}"[:36]
    base, n = key, 2
    while key in taken or key in DEFAULT_RULES.topics:  # a default key would inherit its phrases
        key, n = f"{base}_{n}", n + 1
    return key


def _read_entry(prefix: str, item: type, form: Mapping[str, str], aliases: dict[str, str]) -> dict[str, Any]:
    return _present({f.name: _read(f"{prefix}.{f.name}", sub, form, aliases) for f, sub in _hints(item)})


_ABSENT = object()


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not _ABSENT}


def _number(raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        try:
            value = float(raw)
            return int(value) if kind is int and value.is_integer() else raw
        except ValueError:
            return raw  # load_rules says what is wrong with it, at this field


def check(form: Mapping[str, str]) -> tuple[dict[str, Any], Rules | None, list[str], dict[str, str]]:
    """Read and validate a submitted form: (rules JSON, Rules or None, problems, aliases)."""
    data, aliases = rules_from_form(form)
    try:
        return data, load_rules(data), [], aliases
    except RulesError as e:
        return data, None, e.problems, aliases


def tolerant(data: Mapping[str, Any]) -> Rules:
    """Rules built from JSON with every bad value replaced by its default: the shape to redraw a
    refused form in (the typed values are put back from the form itself)."""
    from integration.core.rules import _build

    return _build(Rules, data, DEFAULT_RULES, "", [])  # type: ignore[no-any-return]
