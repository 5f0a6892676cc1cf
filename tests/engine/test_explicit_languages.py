"""Requests for a person and refusals of one, as customers type them: eight languages, everyday
phrasings, typing mistakes and words run together. A refusal never escalates, whichever signal
is looking. (Written for these tests; nothing here is copied from a dataset or a bot's training file.)"""
import pytest

from integration.core.engine import evaluate, explicit
from integration.core.model import Action
from tests.builders import conv

REQUESTS = {
    "en": ["put me in touch with someone from your team", "I need help from a human", "is there a real person?",
           "can someone call me back", "human", "I don't want to talk to a bot", "connect me with customer care",
           "I'd like to spaek to an agnet", "talktoagent", "let me chat with a representetive"],
    "es": ["quiero hablar con una persona", "pásame con un agente por favor", "necesito un asesor",
           "no quiero hablar con una máquina", "quiero hablr con alguien"],
    "pt": ["quero falar com um atendente", "preciso de uma pessoa", "posso falar com alguém?", "quero flar com um humano"],
    "fr": ["je voudrais parler à un conseiller", "passez-moi un humain s'il vous plaît", "je veux parler a quelqu'un",
           "je veux parlr à un conseiler"],
    "de": ["ich möchte mit einem Mitarbeiter sprechen", "verbinden Sie mich mit einem Menschen",
           "ich brauche einen Berater", "kann ich mit jemandem sprechen"],
    "it": ["vorrei parlare con un operatore", "voglio parlare con una persona", "posso parlare con qualcuno?",
           "vorrei parlre con un operatoer"],
    "nl": ["ik wil met een medewerker praten", "kan ik iemand spreken", "ik wil een mens spreken"],
    "pl": ["chcę rozmawiać z konsultantem", "proszę o połączenie z konsultantem", "chce porozmawiac z czlowiekiem"],
}
REFUSALS = {
    "en": ["no, I don't want to talk to a human", "I do not need an agent, thanks", "don't connect me to anyone"],
    "es": ["no quiero hablar con un humano", "no necesito un agente"],
    "pt": ["não quero falar com um atendente", "não preciso de uma pessoa"],
    "fr": ["je ne veux pas parler à un conseiller", "pas besoin d'un humain"],
    "de": ["ich will nicht mit einem Mitarbeiter sprechen", "ich brauche keinen Berater"],
    "it": ["non voglio parlare con un operatore", "non ho bisogno di una persona"],
    "nl": ["ik wil niet met een medewerker praten", "ik heb geen medewerker nodig"],
    "pl": ["nie chcę rozmawiać z konsultantem", "nie potrzebuję konsultanta"],
}
NEITHER = ["I need support with my login", "can you book a table for 8 people please", "are you a bot?",
           "what is the restaurant's phone number?", "I want assistance to see the termination fees",
           "can you send a tech to reconnect my phone service", "how much per person for the tour?"]


@pytest.mark.parametrize("lang, text", [(lang, t) for lang, ts in REQUESTS.items() for t in ts])
def test_a_request_for_a_person_fires(lang, text):
    finding = explicit.detect(conv(text))
    assert finding.fired, text
    assert finding.evidence[0].quote


@pytest.mark.parametrize("lang, text", [(lang, t) for lang, ts in REFUSALS.items() for t in ts])
def test_a_refusal_never_escalates_whichever_signal_looks(lang, text):
    finding = explicit.detect(conv(text))
    assert not finding.fired and finding.details.get("refused"), text
    for earlier in ((), ("My card was charged twice and this is ridiculous!!!",)):
        decision = evaluate(conv(*earlier, text))
        assert decision.action is Action.CONTINUE, (text, decision.explanation)
        assert "do not want a person" in decision.explanation


@pytest.mark.parametrize("text", NEITHER)
def test_other_mentions_of_people_are_not_requests(text):
    finding = explicit.detect(conv(text))
    assert not finding.fired and not finding.details.get("refused"), text


@pytest.mark.parametrize("text, lang", [("我想和人工客服说话", "zh"), ("オペレーターと話したいです", "ja"),
                                        ("상담원과 통화하고 싶어요", "ko"), ("Я хочу поговорить с оператором", "ru"),
                                        ("أريد التحدث مع موظف", "ar"), ("vorrei parlare con un operatore", "it"),
                                        ("ik wil met een medewerker praten", "nl"), ("chcę rozmawiać z konsultantem", "pl")])
def test_the_language_signal_says_when_baton_cannot_read_requests(text, lang):
    from dataclasses import replace

    from integration.core.engine import language
    from integration.core.rules import DEFAULT_RULES

    finding = language.detect(conv(text), DEFAULT_RULES.language)
    assert finding.details["language"] == lang
    assert finding.details["read"] is (lang in language.READ)
    if lang not in language.READ:
        assert lang in finding.summary and not finding.fired  # said, not acted on by default
        routed = replace(DEFAULT_RULES, language=replace(DEFAULT_RULES.language, unread_escalates=True))
        assert evaluate(conv(text), routed).action is Action.ESCALATE  # an admin's rule hands it over


@pytest.mark.parametrize("text", ["none of these", "my problem is not listed", "can I speak about something else"])
def test_when_the_bots_menu_does_not_cover_it_the_customer_is_asking_for_a_person(text):
    assert explicit.detect(conv(text)).fired
