"""The handoff metrics of one installation, as the analytics page, the CSV export and
``python -m integration report`` compute them."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from integration.core import analytics
from integration.core.model import Installation
from integration.core.rules import RulesError, load_rules
from integration.service.store import Store


def handoff_report(store: Store, inst_id: str, now: datetime, since: datetime | None) -> analytics.Report:
    """Every figure over the installation's conversations first seen since ``since`` (all when None):
    the closed days' rollups and the open days' outcomes, summed (``OutcomeRepository.tallies``); an
    outcome recorded with an old reason-category counts under its topic (``analytics.as_topic``)."""
    topics = topic_labels(store.installations.get(inst_id))
    with _quiet_gc():
        return analytics.summarize(store.outcomes.tallies(inst_id, now, since, topics), now, since)


def topic_labels(inst: Installation | None) -> dict[str, str]:
    """The installation's topics by key with their labels (its rules over the defaults), so a
    category reads as the admin named it; the defaults' when its stored rules no longer load."""
    try:
        rules = load_rules(inst.rules if inst else None, stored=True)
    except RulesError:
        rules = load_rules(None)
    return {key: topic.label for key, topic in rules.topics.items()}


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """The report reads and counts up to a few hundred thousand rows: plain dicts, datetimes and
    tuples, none of them in a reference cycle. The cyclic collector would walk them again and again
    while they are made (a third of the time at 100,000 rows); it waits until they are done."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
