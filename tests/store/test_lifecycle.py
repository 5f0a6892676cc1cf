"""LifecycleRepository (the retention, the purge and the erasure are proven end to end in
tests/test_lifecycle.py): the reconciliation sweep's mark never moves back, and a ticket counts as
heard of only from an event or a write-back at or after its change."""
from datetime import timedelta

from integration.core.model import Event
from integration.service.store import audit, utcnow


def test_the_sweep_mark_starts_empty_and_never_moves_back(store):
    inst = store.installations.add("zendesk", "https://a", {})
    swept, installed = store.lifecycle.sweep_start(inst.id)
    assert swept is None and installed is not None
    now = utcnow()
    store.lifecycle.mark_swept(inst.id, now)
    store.lifecycle.mark_swept(inst.id, now - timedelta(hours=1))
    assert store.lifecycle.sweep_start(inst.id)[0] == now
    assert store.lifecycle.sweep_start("nobody") == (None, None)


def test_a_ticket_is_heard_of_only_by_an_event_at_or_after_its_change(store):
    now = utcnow()
    store.events.receive(Event("zendesk", "i1", "e1", "comment_added", "42"), now)
    assert store.lifecycle.heard_since("i1", {"42": now, "43": now}) == {"42"}
    assert store.lifecycle.heard_since("i1", {"42": now + timedelta(seconds=1)}) == set()


def test_the_purge_keeps_a_tombstone_and_one_audited_count(store):
    inst = store.installations.add("zendesk", "https://a", {"token": "t"})
    store.events.receive(Event("zendesk", inst.id, "e1", "comment_added", "42"))
    counts = store.lifecycle.uninstall(inst.id, "the helpdesk")
    assert counts["events"] == 1
    assert store.installations.status(inst.id) == ("uninstalled", "uninstalled by the helpdesk")
    assert store.installations.get(inst.id).credentials == {}
    (entry,) = store.rows(audit, installation_id=inst.id)
    assert (entry["action"], entry["detail"]["deleted"]["events"]) == ("uninstall", 1)
