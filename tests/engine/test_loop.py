import pytest

from integration.core.engine import evaluate, loop
from integration.core.model import Action
from integration.core.rules import DEFAULT_RULES, LoopRule
from tests.builders import conv

RULE = DEFAULT_RULES.loop


def test_customer_rephrasing_the_same_question_is_a_loop():
    c = conv(
        "How do I export my invoices as PDF?",
        ("bot", "Your invoices are under Billing → History."),
        "Yes but how can I export the invoices to PDF?",
        ("bot", "Your invoices are under Billing → History."),
        "I asked how to export invoices as a PDF file",
    )
    f = loop.detect(c, RULE)
    assert f.fired
    assert "asked the same thing 3 times" in f.summary
    assert {e.message_index for e in f.evidence} >= {0, 2, 4}


def test_one_rephrase_is_not_yet_a_loop_but_the_admin_can_make_it_one():
    c = conv("How do I reset my password?", ("bot", "Click 'Forgot password'."), "how can I reset the password")
    assert not loop.detect(c, RULE).fired
    assert loop.detect(c, LoopRule(rephrases=1)).fired


def test_bot_repeating_its_answer_is_a_loop():
    c = conv("my order?", ("bot", "I can help with orders. What is your order number?"), "12345",
             ("bot", "I can help with orders. What is your order number?"))
    f = loop.detect(c, RULE)
    assert f.fired
    assert "the bot gave the same answer 2 times" in f.summary


def test_exchanges_where_the_bot_fails_or_is_corrected_stall_the_conversation():
    c = conv(
        "A table for 4 at an Italian place in the centre",
        ("bot", "Sorry, I couldn't find any Italian restaurants in the centre."),
        "How about the south?",
        ("bot", "Unfortunately there is nothing in the south either."),
        "No, I said Italian, not pizza. Can you look again?",
    )
    f = loop.detect(c, RULE)
    assert f.fired
    assert f.details["stalled_exchanges"] == 3
    notes = {e.note for e in f.evidence}
    assert notes == {"the bot could not help", "the customer corrected the bot"}


def test_progress_resets_the_count():
    c = conv(
        "Book a table", ("bot", "Sorry, nothing at 7pm."), "8pm then", ("bot", "Done, your booking is confirmed."),
        "Now a taxi please", ("bot", "Sorry, no taxis right now."),
    )
    f = loop.detect(c, RULE)
    assert not f.fired
    assert f.details["stalled_exchanges"] == 1


def test_different_questions_are_not_a_loop():
    c = conv("What are your hours?", ("bot", "9 to 5."), "Where is your office?", ("bot", "Main street 1."), "Do you sell gift cards?")
    f = loop.detect(c, RULE)
    assert not f.fired
    assert f.evidence == ()


def test_many_turns_without_progress():
    turns = []
    for n in range(12):
        turns += [f"question number {n} about topic {n * 7}", ("bot", f"answer {n}")]
    assert loop.detect(conv(*turns), RULE).fired
    assert "12 customer turns without progress" in loop.detect(conv(*turns), RULE).summary


@pytest.mark.parametrize("text", ["No thanks", "no, thank you!", "Nope, that's all", "no I'm good"])
def test_declining_what_the_bot_offers_corrects_nothing(text):
    assert not loop.customer_corrected(text)


@pytest.mark.parametrize("text", ["No, I said the 10th", "no thanks, I said two tickets not three", "Wrong, the blue one"])
def test_a_correction_is_still_one(text):
    assert loop.customer_corrected(text)


def test_a_customer_who_declines_more_help_stays_with_the_bot():
    c = conv("Book a table for two at 8", ("bot", "Done, your booking is confirmed. Anything else?"), "No thanks")
    assert evaluate(c).action is Action.CONTINUE
