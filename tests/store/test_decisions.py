"""DecisionRepository: what was decided is kept with its reasons and evidence."""
from integration.service.store import Outcome
from tests.store.common import commit


def test_decisions_are_kept_with_reasons(store):
    from integration.core.engine import evaluate
    from tests.builders import conv

    d = evaluate(conv("I want to talk to a human"))
    inst, _ = commit(store, Outcome("processed", decision=d))
    (row,) = store.decisions.for_ticket(inst.id, "42")
    assert row["action"] == "escalate" and row["reasons"][0]["code"] == "explicit_request"
    assert row["reasons"][0]["evidence"][0]["quote"] == "I want to talk to a human"
