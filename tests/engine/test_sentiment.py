import pytest

from integration.core.engine import sentiment
from tests.builders import conv


@pytest.mark.parametrize("text, cue", [
    ("This is RIDICULOUS, NOTHING WORKS", "shouts"),
    ("Why is it still broken???", "repeated punctuation"),
    ("I already tried that, twice.", "says the help so far did not work"),
    ("You are useless", "insults the service"),
    ("You guys are fraud", "accuses of fraud or cheating"),
    ("Fix it or I'm switching to a competitor", "threatens to leave"),
    ("this damn app", "swears"),
    ("I want to file a complaint", "complains"),
    ("This is extremely urgent", "says it is urgent"),
])
def test_frustration_cues_are_named_in_the_evidence(text, cue):
    f = sentiment.detect(conv(text))
    assert cue in {e.note for e in f.evidence}
    assert f.score >= 0.35  # at least enough to offer a person


@pytest.mark.parametrize("text", [
    "This is RIDICULOUS, NOTHING WORKS!!!",
    "You are useless",
    "I already told you twice, it still doesn't work!!",
    "Worst service ever. I'm done with you.",
])
def test_angry_customers_fire(text):
    assert sentiment.detect(conv(text)).fired


@pytest.mark.parametrize("text", [
    "Hi, could you tell me when my parcel arrives?",
    "Thanks so much, that worked!",
    "I'd be grateful if you could check my order status when you have a moment",
])
def test_calm_messages_do_not_fire(text):
    f = sentiment.detect(conv(text))
    assert not f.fired
    assert f.score < 0.35


def test_a_polite_complaint_registers_but_below_an_angry_one():
    polite = sentiment.detect(conv("I'm a little disappointed the delivery is late, could you check?"))
    angry = sentiment.detect(conv("This is the worst service ever, I'm done with you!!!"))
    assert 0 < polite.score < angry.score
    assert angry.fired


def test_trajectory_remembers_earlier_anger():
    calm_after_anger = conv("This is unacceptable!!! You charged me wrong", ("bot", "Let me check"), "ok")
    only_calm = conv("hello", ("bot", "hi"), "ok")
    assert sentiment.detect(calm_after_anger).score > sentiment.detect(only_calm).score
    assert sentiment.detect(calm_after_anger).fired


def test_trajectory_lists_one_score_per_customer_message():
    f = sentiment.detect(conv("good morning", ("bot", "hi"), "this is bad", ("bot", "sorry"), "this is terrible and awful"))
    traj = f.details["trajectory"]
    assert len(traj) == 3
    assert traj[0] > traj[2]
