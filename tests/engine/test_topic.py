import pytest

from integration.core.engine import topic
from integration.core.rules import DEFAULT_RULES, load_rules
from tests.builders import conv


@pytest.mark.parametrize("text, category", [
    ("I was charged twice for my subscription", "billing_dispute"),
    ("Money deducted but order not placed", "billing_dispute"),
    ("I did not receive my refund money", "billing_dispute"),
    ("I want a refund", "refund"),
    ("Please cancel my order", "cancellation"),
    ("How do I delete my account?", "cancellation"),
    ("My lawyer will hear about this", "legal"),
    ("My account was hacked", "security_privacy"),
    ("Is the site down? The dashboard is down for everyone", "outage"),
    ("Ich möchte meinen Vertrag kündigen", "cancellation"),
    ("Quiero un reembolso", "refund"),
    ("Is there an internet problem in the Alta Loma area? I have no internet at all.", "outage"),
    ("I need information about the removal of my Gold account", "cancellation"),
    ("Why is it showing the wrong balance?", "billing_dispute"),
    # money owed to the customer that did not arrive or is wrong, whatever it is called
    ("My welcome bonus never showed up", "billing_dispute"),
    ("I still haven't received my cashback from last week", "billing_dispute"),
    ("the referral reward is missing from my account", "billing_dispute"),
    ("didnt get my loyalty points reward", "billing_dispute"),
    ("Where is my bonus? it is not credited", "billing_dispute"),
    # asking for a bill or an invoice: the billing team issues it
    ("I need a copy of my invoice", "billing_dispute"),
    ("Please send me the invoice for order 5512", "billing_dispute"),
    ("can you give me my receipt", "billing_dispute"),
])
def test_default_taxonomy(text, category):
    found = topic.detect(conv(text), DEFAULT_RULES.topics)
    assert category in [f.category for f in found]


@pytest.mark.parametrize("text", [
    "How do I unsubscribe from the newsletter?",
    "In which cases can I ask for a refund?",
    "How much tax will be deducted from winnings?",
    "What are your opening hours?",
    "What is the welcome bonus?",
    "When will the bonus be credited?",
    "how does the referral reward work",
    "How do I download my invoice?",
    "I need to pay my bill",
    "I want to pay the invoice now",
    "I received my bonus, thanks",
])
def test_questions_the_bot_can_answer_are_not_risky(text):
    assert topic.detect(conv(text), DEFAULT_RULES.topics) == []


def test_admins_extend_the_taxonomy():
    rules = load_rules({"topics": {"warranty": {"label": "warranty claim", "phrases": ["warranty claim*", "broke after *"]}}})
    found = topic.detect(conv("The blender broke after two weeks"), rules.topics)
    assert [f.category for f in found] == ["warranty"]
    assert "warranty claim" in found[0].summary


def test_admins_remove_a_topic():
    rules = load_rules({"topics": {"outage": None}})
    assert topic.detect(conv("the app is down"), rules.topics) == []


def test_a_topic_left_behind_no_longer_counts_unless_the_customer_is_still_upset():
    moved_on = conv("Can I cancel the train ticket later if needed?", ("bot", "Yes, up to 24h before."),
                    "Great. I also need a guesthouse with free parking in the north.")
    assert topic.detect(moved_on, DEFAULT_RULES.topics) == []
    assert [f.category for f in topic.detect(moved_on, DEFAULT_RULES.topics, carry_over=True)] == ["cancellation"]


def test_most_important_topic_comes_first():
    found = topic.detect(conv("I want a refund, you charged me twice"), DEFAULT_RULES.topics)
    assert found[0].category == "billing_dispute"  # high priority beats normal


@pytest.mark.parametrize("text", [
    "je discute avec un bot depuis dix minutes",  # French "discute" is not a mistyped "dispute"
    "mon chef m'a demandé le reçu",  # French "demandé" is not Spanish "demanda" (a lawsuit)
])
def test_a_word_of_a_language_the_engine_reads_is_not_a_typing_mistake(text):
    assert topic.detect(conv(text), DEFAULT_RULES.topics) == []


def test_a_mistyped_topic_word_is_still_read():
    assert [f.category for f in topic.detect(conv("I want to disput this charge"), DEFAULT_RULES.topics)] == ["billing_dispute"]
