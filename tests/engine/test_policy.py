from integration.core.engine import evaluate
from integration.core.model import Action, Customer, Priority
from integration.core.rules import load_rules
from tests.builders import conv

NO_MODEL = {"model": {"enabled": False}}


def test_explicit_request_escalates_and_explains_itself():
    d = evaluate(conv("I want to talk to a human"), load_rules(NO_MODEL))
    assert d.action is Action.ESCALATE
    assert [r.code for r in d.reasons] == ["explicit_request"]
    assert d.reasons[0].evidence[0].quote == "I want to talk to a human"
    assert d.explanation.startswith("Hand over to a person: The customer asked to talk to a person.")


def test_routine_question_continues_and_says_why():
    d = evaluate(conv("What are your opening hours?"))
    assert d.action is Action.CONTINUE
    assert d.reasons == ()
    assert "The customer has not asked for a person." in d.explanation
    assert d.priority is Priority.NORMAL and d.tier == 1 and d.category is None


def test_topic_sets_category_priority_and_tier():
    d = evaluate(conv("I'm going to sue you, my lawyer is on it"), load_rules(NO_MODEL))
    assert d.action is Action.ESCALATE
    assert d.category == "legal"
    assert d.priority is Priority.HIGH
    assert d.tier == 3
    assert d.intent == "legal"


def test_admin_can_turn_a_topic_into_an_offer_or_ignore_it():
    text = "Please cancel my order"
    offer = evaluate(conv(text), load_rules({**NO_MODEL, "topics": {"cancellation": {"action": "offer_human"}}}))
    assert offer.action is Action.OFFER_HUMAN
    ignored = evaluate(conv(text), load_rules({**NO_MODEL, "topics": {"cancellation": {"action": "ignore"}}}))
    assert ignored.action is Action.CONTINUE


def test_mild_frustration_offers_a_person_strong_frustration_escalates():
    rules = load_rules(NO_MODEL)
    mild = evaluate(conv("I already tried that"), rules)
    assert mild.action is Action.OFFER_HUMAN
    angry = evaluate(conv("This is RIDICULOUS!!! Useless bot"), rules)
    assert angry.action is Action.ESCALATE
    assert angry.priority is Priority.HIGH  # very angry customers wait less
    assert angry.category == "frustration"


def test_sentiment_threshold_is_a_rule():
    text = "I already tried that"
    strict = load_rules({**NO_MODEL, "sentiment": {"threshold": 0.3, "offer_threshold": 0.2}})
    assert evaluate(conv(text), strict).action is Action.ESCALATE


def test_vip_escalates_by_default_and_can_be_only_prioritised():
    vip = conv("Can we add ten seats?", customer=Customer(tier="vip"))
    d = evaluate(vip, load_rules(NO_MODEL))
    assert d.action is Action.ESCALATE and d.priority is Priority.HIGH and d.tier == 2
    only_priority = load_rules({**NO_MODEL, "segment": {"action": "raise_priority"}})
    d = evaluate(vip, only_priority)
    assert d.action is Action.CONTINUE
    # and a VIP who escalates for another reason gets the raised priority
    d = evaluate(conv("I want a human", customer=Customer(tier="vip")), only_priority)
    assert d.action is Action.ESCALATE and d.priority is Priority.HIGH


def test_every_escalation_has_reasons_with_evidence():
    for text in ["talk to an agent", "I was charged twice!!", "useless bot, worst ever", "my account was hacked"]:
        d = evaluate(conv(text))
        assert d.escalate
        assert d.reasons and all(r.summary for r in d.reasons)
        assert d.evidence, text


def test_same_input_same_decision():
    c = conv("I was charged twice", ("bot", "Sorry about that"), "I want my money back now!!")
    assert evaluate(c) == evaluate(c)


def test_learned_model_explains_itself_with_words():
    d = evaluate(conv("Nope"))  # a bare "no" to the bot: past conversations like it went to a person
    model = next(f for f in d.findings if f.signal == "model")
    assert 0.0 <= model.score <= 1.0
    assert "model score" in model.summary


def test_every_decision_says_what_the_conversation_is_about_without_changing_what_is_handed_over():
    """A kept conversation is counted under its topic as a handed-over one is (the analytics' handoff
    rate by category): a track-only topic names it, a topic the customer refused a person on too."""
    from integration.core.engine.policy import topic_of

    tracked = load_rules({**NO_MODEL, "topics": {"invoices": {"label": "invoices", "phrases": ["invoice*"],
                                                              "action": "ignore"}}})
    kept = evaluate(conv("How do I download my invoice?"), tracked)
    assert kept.action is Action.CONTINUE and kept.category == "invoices" and topic_of(kept) == "invoices"
    assert evaluate(conv("How do I download my invoice?"), load_rules(NO_MODEL)).category is None  # no topic: none
    angry = evaluate(conv("How do I download my invoice? This is RIDICULOUS!!! Useless bot"), tracked)
    assert angry.action is Action.ESCALATE and angry.category == "frustration"  # routed as before
    assert topic_of(angry) == "invoices"  # and counted under what it is about
    legal = evaluate(conv("My lawyer will read my invoice"), tracked)
    assert legal.category == "legal" and topic_of(legal) == "legal"
    refused = evaluate(conv("I don't want a human, just tell me how to cancel my subscription"), load_rules(NO_MODEL))
    assert refused.action is Action.CONTINUE and refused.category == "cancellation"
