"""OutcomeRepository: an outcome row is made on first sight and only known columns are set; the
agents' panel feedback takes precedence over tags in what the analytics and suggestions read."""
from datetime import timedelta

import pytest

from integration.service.store import utcnow


def test_an_outcome_is_made_on_first_sight_and_refuses_unknown_columns(store):
    now = utcnow()
    store.outcomes.record("i1", "42", {"escalated": True, "escalated_at": now}, now)
    store.outcomes.record("i1", "42", {"solved_at": now + timedelta(hours=1)}, now + timedelta(hours=1))
    row = store.outcomes.get("i1", "42")
    assert row["escalated"] is True and row["solved_at"] == now + timedelta(hours=1) and row["created_at"] == now
    with pytest.raises(ValueError, match="not outcome columns"):
        store.outcomes.record("i1", "42", {"installation_id": "i2"})
    assert store.outcomes.get("i1", "43") is None


def test_the_panels_feedback_wins_over_tags(store):
    now = utcnow()
    store.outcomes.record("i1", "42", {"escalated": True, "escalated_at": now, "solved_at": now, "verdict": "right",
                                       "resolution": "refund", "query_text": "where is my money"}, now)
    store.decisions.record_feedback("i1", "42", author_id="7", author_name="Ann", verdict="too_late",
                                    resolution="chargeback", missing_knowledge=None)
    (row,) = store.outcomes.rows("i1")
    assert (row["verdict"], row["resolution"]) == ("too_late", "chargeback")
    (case,) = store.outcomes.resolved_escalations("i1")
    assert case["resolution"] == "chargeback" and case["query_text"] == "where is my money"
    assert store.outcomes.unrated_solved("i1", now - timedelta(minutes=1)) == ["42"]
