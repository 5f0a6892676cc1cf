"""What the engine reads of a conversation is bounded, whatever a customer writes or an admin
types: long messages, long words, endless tickets, patterns that would backtrack, a time budget."""
from __future__ import annotations

import json

import pytest

from integration.core import limits
from integration.core.codec import conversation_to_json
from integration.core.engine import evaluate, topic
from integration.core.engine.lexicon import concept
from integration.core.model import Action, Conversation, Message, Role
from integration.core.rules import RulesError, load_rules

FILLER = "The order number is on the invoice and the parcel was due last week. "


def conv(*texts: str, roles: tuple[Role, ...] | None = None) -> Conversation:
    roles = roles or tuple(Role.CUSTOMER if i % 2 == 0 else Role.BOT for i in range(len(texts)))
    return Conversation("c1", tuple(Message(r, t) for r, t in zip(roles, texts)))


def long_text(chars: int) -> str:
    return (FILLER * (chars // len(FILLER) + 1))[:chars]


@pytest.mark.parametrize("where", ["start", "end"])
def test_a_request_for_a_person_at_either_end_of_a_megabyte_message_is_found(where):
    ask = "I want to talk to a human."
    text = ask + " " + long_text(1_000_000) if where == "start" else long_text(1_000_000) + " " + ask
    decision = evaluate(conv(text))
    assert decision.action is Action.ESCALATE
    assert decision.reasons[0].code == "explicit_request"
    assert "1 long message was read by its first and last 2,000 characters." in decision.explanation
    assert decision.limits == ("1 long message was read by its first and last 2,000 characters.",)


def test_the_middle_of_a_long_message_is_not_read_and_the_decision_says_so():
    text = long_text(50_000) + " I want to talk to a human. " + long_text(50_000)
    decision = evaluate(conv(text))
    assert decision.action is Action.CONTINUE
    assert "first and last 2,000 characters" in decision.explanation


def test_a_word_longer_than_any_real_word_is_not_looked_up_for_typing_mistakes():
    assert concept("agnet") == "person"  # a typo of a real word is still understood
    assert concept("agnet" * 200) is None
    decision = evaluate(conv("qwertyu" * 150_000))  # one "word" of a megabyte
    assert decision.action is Action.CONTINUE


def test_a_ticket_of_ten_thousand_messages_is_read_by_its_last_ones_and_evidence_points_into_the_whole():
    texts = [f"{i} is the tracking number still the same?" if i % 2 == 0 else "Please check the carrier's page."
             for i in range(9_999)] + ["I want to talk to a human"]
    roles = tuple(Role.CUSTOMER if i % 2 == 0 else Role.BOT for i in range(9_999)) + (Role.CUSTOMER,)
    decision = evaluate(conv(*texts, roles=roles))
    assert decision.action is Action.ESCALATE
    (reason,) = [r for r in decision.reasons if r.code == "explicit_request"]
    assert reason.evidence[0].message_index == 9_999  # the last message of the whole ticket, not of the window
    assert f"Baton read the last {limits.MESSAGES} of 10,000 messages." in decision.limits


def test_the_window_keeps_the_newest_messages_within_the_character_budget():
    c = conv(*[long_text(10_000) for _ in range(40)])
    w = limits.window(c)
    assert len(w.conversation.messages) < limits.MESSAGES
    assert sum(len(m.text) for m in w.conversation.messages) <= limits.CHARS
    assert w.offset == 40 - len(w.conversation.messages)
    assert w.conversation.messages[-1].text.startswith(FILLER[:20])  # the newest message, cut in its middle
    assert limits.GAP in w.conversation.messages[-1].text


def test_a_short_conversation_is_read_whole_and_says_nothing_about_limits():
    c = conv("hello", "Hi! How can I help?", "where is my parcel?")
    assert limits.window(c).conversation is c
    assert evaluate(c).limits == ()


CATASTROPHIC = {"topics": {"custom": {"label": "custom words", "phrases": ["re:(a+)+$"]}}}


def test_a_pattern_that_backtracks_on_pythons_engine_runs_in_linear_time():
    rules = load_rules(CATASTROPHIC)  # accepted: RE2 runs it without backtracking
    assert evaluate(conv("a" * 100_000 + "b"), rules).action is Action.CONTINUE  # would take longer than the universe
    assert evaluate(conv("aaaa"), rules).category == "custom"


@pytest.mark.parametrize("pattern", [r"refund(?!ed)", r"(?<=my )refund", r"(\w+) \1"])
def test_a_pattern_only_a_backtracking_engine_can_run_is_refused_at_the_field_with_the_reason(pattern):
    with pytest.raises(RulesError) as e:
        load_rules({"topics": {"custom": {"label": "custom", "phrases": ["refund", f"re:{pattern}"]}}})
    (problem,) = e.value.problems
    assert problem.startswith("topics.custom.phrases[1]: Baton runs regular expressions in linear time")


def test_an_exclusion_pattern_is_checked_like_a_phrase():
    with pytest.raises(RulesError) as e:
        load_rules({"topics": {"custom": {"label": "custom", "phrases": ["refund"], "exclude": ["re:(?=x)"]}}})
    assert e.value.problems[0].startswith("topics.custom.exclude[0]: Baton runs regular expressions in linear time")


def test_a_stored_pattern_that_cannot_run_matches_nothing_and_the_rest_of_the_rules_still_work():
    stored = {"topics": {"custom": {"label": "custom", "phrases": ["re:refund(?!ed)", "gizmo warranty"]}}}
    rules = load_rules(stored, stored=True)  # an installation is not stopped by one old phrase
    assert evaluate(conv("I want a refund"), rules).category != "custom"
    assert evaluate(conv("about my gizmo warranty"), rules).category == "custom"


def test_an_admins_taxonomy_is_bounded():
    too_many = {"topics": {"custom": {"label": "custom", "phrases": [f"word{i}" for i in range(301)]}}}
    with pytest.raises(RulesError, match=r"topics.custom.phrases: at most 300 phrases \(got 301\)"):
        load_rules(too_many)
    with pytest.raises(RulesError, match=r"at most 500 characters"):
        load_rules({"topics": {"custom": {"label": "custom", "phrases": ["x" * 501]}}})
    with pytest.raises(RulesError, match=r"topics: at most 100 topics"):
        load_rules({"topics": {f"t{i}": {"label": "t", "phrases": ["x"]} for i in range(101)}})


def test_an_evaluation_out_of_time_decides_on_what_finished_and_says_which_checks_it_skipped():
    calls = []

    def out_of_time() -> bool:
        calls.append(1)
        return len(calls) > 2  # the request for a person and the sentiment finish, nothing after

    decision = evaluate(conv("I want to talk to a human about my refund"), out_of_time=out_of_time)
    assert decision.action is Action.ESCALATE and decision.reasons[0].code == "explicit_request"
    assert not any(r.code.startswith("risky_topic") for r in decision.reasons)  # the topics never ran
    skipped = [f.signal for f in decision.findings if f.details.get("skipped")]
    assert skipped == ["loop", "segment", "repeat_contact", "bot_confidence", "language", "model"]
    assert decision.limits == ("Baton ran out of time for this evaluation and decided without these checks: topics, "
                               "loop, segment, repeat contacts, bot confidence, language, learned model.",)


def test_the_topics_stop_between_an_admins_topics_when_time_runs_out():
    rules = load_rules({"topics": {f"t{i}": {"label": f"topic {i}", "phrases": [f"word{i}"]} for i in range(50)}})
    seen = []

    def out_of_time() -> bool:
        seen.append(1)
        return len(seen) > 5

    found = topic.detect(conv("word49 and word1"), rules.topics, out_of_time=limits.Clock(out_of_time))
    assert len(seen) == 6  # asked before each topic until it ran out: the other topics were never read
    assert [f.category for f in found if f.category.startswith("t")] == []


def test_kept_conversation_is_bounded_in_bytes_whatever_the_script():
    emoji = "😡" * 5_000  # twelve bytes a character once escaped in JSON
    c = conv(*[emoji] * 50)
    assert len(json.dumps(conversation_to_json(limits.kept(c)))) < 60_000
    assert limits.kept(c).messages[-1].text.endswith("😡")


def test_the_note_says_what_was_not_read_once_on_its_limits_line():
    from integration.core.handoff import build_package, render_text
    text = long_text(50_000)
    decision = evaluate(conv(text))
    assert decision.limits and not decision.reasons
    note = render_text(build_package(conv(text), decision))
    assert note.count("long message was read") == 1
    assert "Limits: 1 long message was read by its first and last 2,000 characters." in note
