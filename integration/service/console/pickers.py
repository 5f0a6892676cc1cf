"""What the admin chooses by name from what Baton synced of the helpdesk (its roster: groups,
brands or products, skills, tags), as inputs of the rules form: the rules keep ids, the admin reads
names, and an id the helpdesk no longer has stays chosen, named as missing, to choose another."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integration.service.console.words import CHANNELS as WORD_CHANNELS, Names


@dataclass
class Field:
    """One input of the rules form (``forms``), with what the admin reads and what went wrong."""

    name: str
    label: str
    kind: str  # select | group | picks | combo | number | text | lines | checkbox | textarea | hidden
    value: Any
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, what the admin reads)
    help: str = ""
    error: str = ""
    step: str = "any"
    render_into: str = ""  # a customer message: rendered live beside the input
    warning: str = ""  # e.g. the group it names is no longer in the helpdesk
    suggest: tuple[str, ...] = ()  # values to offer while typing (a datalist)
    optional: str = ""  # a select's empty choice ("no default group"), when it has one
    free: bool = False  # a combobox that takes a value typed (a tag), not only one of its choices (a skill)
    chosen: list[tuple[str, str]] = field(default_factory=list)  # a combobox's values, with what the admin reads


TAG_FIELDS = ("scope.tags", "scope.exclude_tags", "segment.tiers")


def combo_field(name: str, label_: str, value: list[str], short: str, names: Names, help_: str = "") -> Field | None:
    """Tags or skills: the chosen ones shown by name, one more added by searching the helpdesk's. A
    tag may be new (tags are free text in every helpdesk); a skill is one the helpdesk has, and one
    it no longer has stays chosen, named as missing, to untick. None where the helpdesk has no skills."""
    if short != "skills":
        return Field(name, label_, "combo", value, [(t, t) for t in names.tags], help_, free=True,
                     chosen=[(t, t) for t in value])
    if not names.has_skills and not value:
        return None
    f = Field(name, label_, "combo", value, names.skill_choices(), help_,
              chosen=[(v, names.skill(v) if v in names.skills else f"⚠ {names.skill(v)}") for v in value])
    if any(v not in names.skills for v in value):
        f.warning = f"A skill ticked here is not in {names.helpdesk_name} any more: untick it."
    return f


def group_field(name: str, label_: str, value: Any, names: Names, optional: str = "", help_: str = "") -> Field:
    """A group chosen by its name. The rules keep its id; an id the helpdesk no longer has stays
    chosen, named as missing, with a warning to choose another."""
    current = "" if value is None else str(value)
    choices = names.group_choices()
    f = Field(name, label_, "group", current, choices, help_, optional=optional)
    if current and not names.known_group(current):
        f.choices = [(current, f"⚠ {names.group(current)}")] + choices
        f.warning = (f"This {names.group_word} is not in {names.helpdesk_name} any more (or was never synced): "
                     f"choose another.")
    return f


def pick_choices(name: str, names: Names) -> list[tuple[str, str]] | None:
    """The choices of a list field whose values come from a known set, else None (typed lines)."""
    if name == "scope.channels":
        return list(WORD_CHANNELS.items())
    if name == "scope.groups":
        return names.group_choices()
    if name == "scope.brands":
        return names.brand_choices()
    if name == "routing.discreet":
        return names.categories()
    return None


def unknown_label(name: str, value: str, names: Names) -> str:
    if name == "scope.groups":
        return f"⚠ {names.group(value)}"
    if name == "scope.brands":
        return f"⚠ {names.brand(value)}"
    return names.category(value) if name == "routing.discreet" else value
