"""Threshold suggestions from outcomes: planted over-escalations produce the change that removes
them, and the replay states its cost (right handoffs lost) honestly."""
from __future__ import annotations

from datetime import datetime, timezone

from integration.core.calibration import OVER, RIGHT, UNDER, Candidate, Labeled, candidates, merged, review
from integration.core.rules import load_rules
from tests.builders import conv

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def labeled(text: str, label: str | None, category: str | None = None) -> Labeled:
    return Labeled(conv(text), label, category)


REFUND_ASKS = [f"Please refund my order {n}, it never arrived" for n in range(1001, 1007)]


def test_planted_needless_refund_handoffs_suggest_offering_a_person_instead():
    items = [labeled(t, OVER, "refund") for t in REFUND_ASKS]
    items += [labeled("Where can I download my invoice?", None)]
    (best, *_) = review(items, {}, NOW)
    assert best.candidate.title == "topic refund: offer a person instead of handing over"
    assert (best.over_removed, best.over_total, best.right_lost) == (6, 6, 0)
    assert best.escalations_before == 6 and best.escalations_after == 0
    assert best.summary.startswith("topic refund: offer a person instead of handing over: -100 % escalations, "
                                   "6 of 6 needless handoffs removed")
    assert load_rules(merged({}, best.candidate.patch)).topics["refund"].action == "offer_human"


def test_the_cost_is_stated_and_a_change_that_loses_more_than_it_saves_is_not_suggested():
    over = [labeled(t, OVER, "refund") for t in REFUND_ASKS[:2]]
    right = [labeled(t, RIGHT, "refund") for t in REFUND_ASKS[2:]]
    change = Candidate("topic refund: offer", {"topics": {"refund": {"action": "offer_human"}}})
    assert review(over + right, {}, NOW, [change]) == []  # 2 removed, 4 right ones lost: not worth it
    (effect,) = review(over * 3 + right[:1], {}, NOW, [change])
    assert (effect.over_removed, effect.right_lost, effect.right_total) == (6, 1, 1)
    assert effect.summary.endswith("1 of 1 right handoffs lost")


def test_candidates_step_the_thresholds_and_offer_a_topic_only_after_several_needless_handoffs():
    rules = load_rules({"sentiment": {"threshold": 0.5}})
    titles = [c.title for c in candidates(rules, [labeled(REFUND_ASKS[0], OVER, "refund")] * 2)]
    assert "sentiment threshold 0.50 → 0.60" in titles and "sentiment threshold 0.50 → 0.40" in titles
    assert "loop rephrases 2 → 3" in titles
    assert not any(t.startswith("topic") for t in titles)  # two needless handoffs are not a pattern yet


def test_a_missed_handoff_is_caught_by_a_lower_threshold():
    annoyed = "Hmm, that is not really what I asked, a bit annoying"  # frustration 0.78
    items = [labeled(annoyed, UNDER)]
    change = Candidate("sentiment threshold 0.9 → 0.6", {"sentiment": {"threshold": 0.6}})
    live = {"sentiment": {"threshold": 0.9, "offer_threshold": 0.85}, "model": {"enabled": False}}
    (effect,) = review(items, live, NOW, [change])
    assert (effect.under_caught, effect.under_total) == (1, 1)


def test_the_review_proposes_a_change_on_the_demos_history(tmp_path):
    """The README's flow can be tried on the demo: thirty days of its history (generated, decided by
    the engine) give the review at least one change that would have decided better, one click from a
    draft, whose figures are the replay's."""
    from cryptography.fernet import Fernet

    from integration.service.calibration import review as installation_review
    from integration.service.store import Store, Vault
    from integration.tools import history
    from integration.tools.demo import HELPDESKS, TRACKED, history_rng

    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(Fernet.generate_key().decode()))
    store.migrate()
    for n in HELPDESKS:  # the histories the demo seeds, one per helpdesk
        inst = store.installations.add("zendesk", f"https://acme-{n}.zendesk.com", {"token": "x"},
                                       rules={"topics": TRACKED})
        history.seed(store, inst.id, NOW, ["1", "2"], rng=history_rng(n))
        items, effects = installation_review(store, inst, NOW)
        labels = {label: sum(1 for i in items if i.label == label) for label in (OVER, UNDER, RIGHT)}
        assert labels[OVER] >= 10 and labels[UNDER] > 0 and labels[RIGHT] > 0, labels  # outcomes of every kind
        assert effects, f"no proposal on history {n}: {labels}"
        best = effects[0]
        assert best.benefit > 0 and best.over_removed + best.under_caught > 0
        assert best.over_total == labels[OVER] and best.right_total == labels[RIGHT]
        load_rules(merged(inst.rules, best.candidate.patch))  # the draft it opens is valid rules
    store.engine.dispose()
