"""What the store's repository tests share: a plan, and an event committed as the worker does."""
from __future__ import annotations

from datetime import timedelta

from integration.core.model import AddNote, AddTags, Event, Plan, Priority, SetPriority
from integration.service.store import utcnow

PLAN = Plan("k-1", "42", (AddNote("<p>n</p>", "n"), AddTags(("a",)), SetPriority(Priority.HIGH)), {"tags": ["x"]})


def commit(store, outcome, key="e1", now=None):
    """An event received and its outcome committed, as the worker does: (installation, what commit returned)."""
    inst = store.installations.get("i-commit") or store.installations.add("zendesk", "https://a", {}, id="i-commit")
    eid = store.events.receive(Event("zendesk", inst.id, key, "comment_added", "42"))[0]
    return inst, store.events.commit(store.events.context(eid), outcome, now or utcnow(), timedelta(seconds=60))
