import pytest

from integration.core.engine import explicit
from tests.builders import conv

REQUESTS = [
    "Can I talk to a human please",
    "I want to speak with a live agent",
    "connect me to supervisor",
    "Live agent",
    "agent please",
    "I need help talking with a real person",
    "How do I speak with an actual representative?",
    "is there anyone available to assist",
    "Quiero hablar con un agente",  # es
    "Pásame con una persona real, por favor",  # es
    "Je voudrais parler à un conseiller",  # fr
    "Ich möchte mit einem Mitarbeiter sprechen",  # de
    "Verbinden Sie mich bitte mit einem Menschen",  # de
    "Quero falar com um atendente",  # pt
    "I don't want to talk to a bot, I want a human",
    "agent?",
    "a real person please?",
    "can I talk to Maria?",
]

NOT_REQUESTS = [
    "No need for an agent, I found it",
    "I don't need to talk to anyone, just tell me the price",
    "are you a bot?",
    "Are you human?",
    "I need a table for one person",
    "I need support with my login",
    "Thanks, that solved it",
    "No necesito hablar con un agente",  # es
    "Je n'ai pas besoin de parler à un conseiller",  # fr
    "Ich brauche keinen Mitarbeiter",  # de
    "Não preciso falar com um atendente",  # pt
    # a question mark makes a question, not a person out of what comes before it
    "human resources?",
    "customer service hours?",
    "agent login?",
    # talking about an order is not asking for someone
    "hablamos de mi pedido?",  # es
    "podemos falar do meu pedido?",  # pt
]


@pytest.mark.parametrize("text", REQUESTS)
def test_requests_for_a_person_fire_with_the_quoted_words(text):
    finding = explicit.detect(conv(text))
    assert finding.fired
    assert finding.evidence[0].message_index == 0
    assert finding.evidence[0].quote  # the agent sees the words that asked


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_negations_and_questions_about_the_bot_do_not_fire(text):
    assert not explicit.detect(conv(text)).fired


def test_a_request_two_messages_ago_still_counts_but_not_an_old_one():
    recent = conv("I want a human", ("bot", "Sure, one moment"), "hello?")
    assert explicit.detect(recent).fired
    assert explicit.detect(recent).evidence[0].message_index == 0
    old = conv("I want a human", ("bot", "ok"), "actually fine", ("bot", "ok"), "what are your hours", ("bot", "9-5"), "thanks")
    assert not explicit.detect(old).fired


def test_bot_messages_are_not_read_as_requests():
    assert not explicit.detect(conv("hi", ("bot", "Would you like to talk to an agent?"), "what are your hours")).fired


@pytest.mark.parametrize("text", [
    "my phone isn't working", "the call never came", "my call didn't go through",
    "mi teléfono no funciona",  # es
    "mon téléphone ne marche pas",  # fr
])
def test_a_phone_or_a_call_that_does_not_work_is_not_a_refusal(text):
    m = explicit.match(text)
    assert m is None or not m.refused


@pytest.mark.parametrize("text", ["don't call me", "operator not needed", "agente no, gracias", "Mitarbeiter nicht nötig",
                                  "オペレーターはいらない", "电话不要"])
def test_a_refusal_after_its_person_or_with_a_want_is_still_one(text):
    assert explicit.match(text).refused


def test_an_angry_customer_whose_phone_does_not_work_is_not_silenced_as_a_refusal():
    from integration.core.engine import evaluate
    from integration.core.model import Action
    decision = evaluate(conv("My phone isn't working again and your support is useless!!"))
    assert decision.action is Action.ESCALATE
