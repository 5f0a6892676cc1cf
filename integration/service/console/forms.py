"""The rules as an HTML form and back, derived from the rules' own types (``integration.core.rules``):
a field added to a rule appears in the console without touching this file, and validation stays
``load_rules``'s alone — its problems ("sentiment.threshold: must be between 0 and 1") are put
next to the input they name.

Form names are the rules' paths, with rows of a mapping numbered: ``sentiment.threshold``,
``topics[2].phrases``, ``routing.hours[0].weekly.mon``. Each mapping row has ``.__key__`` and a
``.__remove__`` box, and every mapping ends with one empty row to add an entry.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Mapping, Sequence, get_args, get_origin, get_type_hints

from integration.core.model import CHANNELS
from integration.core.routing import DAYS
from integration.core.rules import ACTIONS, DEFAULT_RULES, PRIORITIES, Rules, RulesError, load_rules

HELP = {
    "action": "what Baton does when this fires", "tier": "1 first line, 2 specialists, 3 engineering or account team",
    "sentiment.threshold": "frustration score (0–1) that hands over",
    "sentiment.offer_threshold": "between this and the threshold: offer a person",
    "loop.similarity": "how alike two customer messages must be to count as asking again (0–1)",
    "loop.rephrases": "earlier messages asking the same thing", "loop.bot_repeats": "the bot sending the same answer",
    "loop.max_exchanges": "customer turns without progress", "segment.tiers": "customer tiers or tags handed to a person, one per line",
    "repeat_contact.contacts": "earlier contacts …", "repeat_contact.days": "… within this many days",
    "bot_confidence.threshold": "the bot's confidence below this", "bot_confidence.field": "ticket field holding the confidence",
    "language.bot_languages": "languages the bot speaks (ISO codes, one per line; empty: all)",
    "model.threshold": "probability that a person is needed", "phrases": "one per line; * ends a prefix (refund*); re: starts a regular expression",
    "routing.default_group": "group id for everything no other rule routes", "routing.min_samples": "first replies needed before quoting a wait",
    "routing.notify_customer": "tell the customer in the conversation (many bots announce the handoff themselves)",
    "routing.discreet": "categories whose notices never name a team, one per line",
    "scope.channels": "one per line, of: " + ", ".join(CHANNELS) + " (empty: every channel)",
    "scope.bot_only": "only conversations a bot took part in", "weekly": "HH:MM-HH:MM, several separated by commas; empty: closed",
    "holidays": "country code of the public holidays (FR, US, …)", "closed": "closed dates, YYYY-MM-DD, one per line",
    "routing.sla": "minutes (in the group's business hours) a handed-over conversation may wait for a first reply, per category (* for the others): then Baton re-routes it once and raises its priority",
    "routing.messages": "kind (handoff, wait, after_hours, offer, or kind:category), language, and the text; {team}, {wait}, {minutes}, {opening} are filled in",
}
TITLES = {"explicit_request": "Explicit request for a person", "sentiment": "Frustration", "topics": "Risky topics",
          "loop": "Bot loops", "segment": "Customer segment", "repeat_contact": "Repeat contacts",
          "bot_confidence": "Bot confidence", "language": "Languages", "model": "Learned model", "routing": "Routing",
          "scope": "Scope: which conversations Baton watches"}


@dataclass
class Field:
    name: str
    label: str
    kind: str  # select | number | text | lines | checkbox | textarea
    value: Any
    choices: tuple[str, ...] = ()
    help: str = ""
    error: str = ""
    step: str = "any"
    render_into: str = ""  # a customer message: rendered live beside the input


@dataclass
class Row:
    """One entry of a mapping: its key, its fields, a box to remove it."""

    prefix: str
    key: Field
    fields: list[Any]
    new: bool = False
    error: str = ""


@dataclass
class Group:
    """A rule object or a mapping of them, as a fieldset."""

    name: str
    title: str
    fields: list[Any] = field(default_factory=list)  # Field | Group
    rows: list[Row] | None = None  # set for a mapping
    help: str = ""


def _is_mapping(hint: Any) -> bool:
    return get_origin(hint) in (MappingABC, dict)


def label(name: str) -> str:
    return name.replace("_", " ").capitalize()


# rules → form

def form_for(rules: Rules, form: Mapping[str, str] | None = None, problems: Sequence[str] = (),
             submitted: Mapping[str, str] | None = None) -> tuple[list[Group], list[str]]:
    """The form's groups for ``rules``; each problem is put next to its input, with the value the
    user typed there (``form``, whose rows ``submitted`` maps from the rules' paths). Returns the
    groups and the problems no input owns."""
    groups = [_group(getattr(rules, f.name), f.name, TITLES.get(f.name, label(f.name)), hint)
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
        if form is not None and typed in form and target.kind != "checkbox":
            target.value = form[typed]
    return groups, orphans


def _hints(cls: type) -> list[tuple[Any, Any]]:
    hints = get_type_hints(cls)
    return [(f, hints[f.name]) for f in fields(cls)]


def _group(obj: Any, path: str, title: str, hint: Any) -> Group:
    if _is_mapping(hint) or isinstance(obj, Mapping):
        return _mapping(obj, path, title, hint)
    g = Group(path, title, help=HELP.get(path, ""))
    for f, sub in _hints(type(obj)):
        g.fields.append(_field(getattr(obj, f.name), f"{path}.{f.name}", f.name, sub))
    return g


def _field(value: Any, name: str, short: str, hint: Any) -> Any:
    help_ = HELP.get(name, HELP.get(short, ""))
    if is_dataclass(hint):
        return _group(value, name, label(short), hint)
    if _is_mapping(hint):
        return _mapping(value, name, label(short), hint)
    if short == "action":
        return Field(name, "Action", "select", value, ACTIONS, help_)
    if short == "priority":
        return Field(name, "Priority", "select", value, PRIORITIES, help_)
    if short == "tier":
        return Field(name, "Tier", "select", str(value), ("1", "2", "3"), help_)
    if hint is bool:
        return Field(name, label(short), "checkbox", bool(value), help=help_)
    if hint in (int, float):
        return Field(name, label(short), "number", value, help=help_, step="1" if hint is int else "any")
    if get_origin(hint) is tuple:
        return Field(name, label(short), "lines", "\n".join(value or ()), help=help_)
    return Field(name, label(short), "text", "" if value is None else value, help=help_)


def _mapping(value: Mapping[str, Any], path: str, title: str, hint: Any) -> Group:
    _, item = get_args(hint)
    g = Group(path, title, rows=[], help=HELP.get(path, ""))
    entries = list(value.items())
    if _is_mapping(item) and path.endswith("messages"):  # kind → language → text: one row per text
        entries = [((kind, lang), text) for kind, texts in value.items() for lang, text in texts.items()]
    for i, (key, sub) in enumerate(entries + [(None, None)]):
        prefix = f"{path}[{i}]"
        g.rows.append(_row(prefix, key, sub, item, path))  # type: ignore[union-attr]
    return g


def _row(prefix: str, key: Any, value: Any, item: Any, path: str) -> Row:
    new = key is None
    if path.endswith("messages"):
        kind, lang = key if key else ("", "")
        name = f"{prefix}.__value__"
        return Row(prefix, Field(f"{prefix}.__key__", "Kind", "text", kind), [
            Field(f"{prefix}.__lang__", "Language", "text", lang),
            Field(name, "Text", "textarea", value or "", render_into=f"render-{prefix}")], new)
    key_field = Field(f"{prefix}.__key__", "Group id" if path.endswith(("hours", "public_names")) else "Name", "text",
                      key or "")
    if is_dataclass(item):
        obj = value if value is not None else _blank(item)
        inner = _group(obj, prefix, "", item)
        if path.endswith("hours"):  # weekly: one input per day
            weekly = next(f for f in inner.fields if f.name.endswith(".weekly"))
            inner.fields[inner.fields.index(weekly)] = Group(weekly.name, "Weekly hours", [
                Field(f"{prefix}.weekly.{d}", d.capitalize(), "text", ", ".join((obj.weekly or {}).get(d, ())),
                      help=HELP["weekly"] if d == "mon" else "") for d in DAYS])
        return Row(prefix, key_field, inner.fields, new)
    return Row(prefix, key_field, [Field(f"{prefix}.__value__", "Value", "text", value or "")], new)


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
        for f in row.fields:
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
            return found if isinstance(found, Field) else found.key
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
    if get_origin(hint) is tuple:
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if hint in (int, float) or path.endswith(".tier"):
        return _number(raw.strip(), int if hint is int or path.endswith(".tier") else float)
    if "None" in str(hint):
        return raw.strip() or None
    return raw.strip()


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
