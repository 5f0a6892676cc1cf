"""The handoff note: what an agent taking over a conversation relies on."""
from __future__ import annotations

import dataclasses
import html
import re
from datetime import datetime, timedelta, timezone

import pytest

from integration.core.engine import evaluate
from integration.core.handoff import NOTE_MARKER, WIDTH, ContextPackage, build_package, render_html, render_text
from integration.core.model import (Action, Contact, Conversation, Customer, Decision, Evidence, Message, Priority,
                               Reason, Role)

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc)
ANGRY = "This is the third time I ask, I was charged twice!!! I want to talk to a human"
ALLOWED_TAGS = {"h3", "p", "ul", "li", "b", "i", "br", "blockquote", "table", "tr", "td", "th"}


def conv(*messages: Message, customer: Customer = Customer()) -> Conversation:
    return Conversation("c1", messages, customer=customer)


def charged_twice(customer: Customer = Customer()) -> Conversation:
    return conv(Message(Role.CUSTOMER, "Hi, I have a question about my invoice", at=T0),
                Message(Role.BOT, "Sure! You can find invoices under Settings > Billing.", at=T0 + timedelta(minutes=1)),
                Message(Role.CUSTOMER, ANGRY, at=T0 + timedelta(minutes=3)), customer=customer)


def decision(**kw: object) -> Decision:
    base = Decision(
        conversation_id="c1", action=Action.ESCALATE,
        reasons=(Reason("explicit_request", "The customer asked to talk to a person.",
                        (Evidence(2, "I want to talk to a human", 1.0, 1.0, "asks for a person"),)),),
        priority=Priority.HIGH, category="billing_dispute", tier=2, intent="billing dispute",
        language="en", sentiment=(0.0, -0.4), findings=(), explanation="Hand over to a person.")
    return dataclasses.replace(base, **kw)


def both(c: Conversation, d: Decision, **kw: object) -> tuple[str, str]:
    p = build_package(dataclasses.replace(c, as_of=T0 + timedelta(hours=1)), d, **kw)
    return render_text(p), render_html(p)


def flat(s: str) -> str:
    return " ".join(s.split())


def test_headline_comes_first_with_the_customers_words_and_the_reason() -> None:
    c = charged_twice()
    d = evaluate(c)
    assert d.action is Action.ESCALATE and d.reasons
    p = build_package(c, d)
    assert p.headline.startswith("Escalated")
    assert "charged twice" in p.headline
    assert d.reasons[0].summary.rstrip(".")[1:] in p.headline  # first letter may be lower-cased
    text, page = render_text(p), render_html(p)
    assert flat(text).startswith(f"{NOTE_MARKER} {p.headline}")
    assert page.startswith("<p><b>")
    assert page.index(html.escape(p.headline, quote=True)) < page.index("<h3>")


def test_headline_uses_the_substantive_message_not_a_bare_request_for_a_human() -> None:
    c = conv(Message(Role.CUSTOMER, "My CSV export fails with error 500 since yesterday"),
             Message(Role.BOT, "Please try again later."),
             Message(Role.CUSTOMER, "human please"))
    p = build_package(c, decision(intent="data export problem"))
    assert "CSV export fails with error 500" in p.headline
    assert "human please" not in p.headline
    assert "data export problem" in p.headline


def test_headline_trims_a_long_customer_message() -> None:
    c = conv(Message(Role.CUSTOMER, "word " * 400))
    p = build_package(c, decision())
    said = re.search(r"“(.*)”", p.headline)
    assert said is not None
    assert said.group(1).endswith("…") and len(said.group(1)) <= 201


def test_sections_come_in_the_agreed_order() -> None:
    c = charged_twice(Customer(name="Ann Lee", plan="Pro"))
    text, page = both(c, decision(), route="Billing group — why: disputes", suggestion="Refund the duplicate.")
    text_marks = [NOTE_MARKER, "Why escalated:", "Intent:", "Sentiment:", "Language:", "Customer:",
                  "What the bot already tried:", "Suggested resolution:", "Route:", "Transcript (3 messages):"]
    html_marks = [NOTE_MARKER, "<h3>Why escalated</h3>", "<b>Intent:</b>", "<b>Sentiment:</b>",
                  "<b>Language:</b>", "<h3>Customer</h3>", "<h3>What the bot already tried</h3>",
                  "<h3>Suggested resolution</h3>", "<h3>Route</h3>", "<h3>Transcript (3 messages)</h3>"]
    for doc, marks in ((text, text_marks), (page, html_marks)):
        at = [doc.index(m) for m in marks]
        assert at == sorted(at), marks
    assert text.index("Transcript (3 messages):") < text.index(ANGRY.split(",")[0][:20])


def test_reasons_carry_their_evidence_quotes() -> None:
    c = charged_twice()
    d = evaluate(c)
    text, page = both(c, d)
    quotes = [e.quote for r in d.reasons for e in r.evidence]
    assert quotes
    for r in d.reasons:
        assert flat(r.summary) in flat(text)
        assert html.escape(r.summary, quote=True) in page
    for q in quotes:
        assert flat(q) in flat(text)
        assert html.escape(q, quote=True) in page


def test_evidence_shows_message_score_and_threshold() -> None:
    d = decision(reasons=(Reason("sentiment", "The customer is angry.",
                                 (Evidence(1, "so angry", 0.813, 0.5, "negative tone"),
                                  Evidence(None, "tier: vip", 1.0)),),))
    text, page = both(conv(Message(Role.CUSTOMER, "hello"), Message(Role.CUSTOMER, "so angry")), d)
    assert "“so angry” (message #2, score 0.81 vs threshold 0.50, negative tone)" in flat(text)
    assert "“tier: vip” (score 1.00)" in flat(text)
    assert "(message #2, score 0.81 vs threshold 0.50, negative tone)" in page


@pytest.mark.parametrize("evil", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                                  '"><b onmouseover="alert(1)">x</b>'])
def test_html_escapes_every_string_from_outside(evil: str) -> None:
    customer = Customer(name=evil, email=evil, plan=evil, tier=evil, organization=evil, timezone=evil,
                        language=evil, tags=(evil,), recent_contacts=(Contact(evil, T0, evil, evil),))
    c = conv(Message(Role.CUSTOMER, f"help {evil} please now", at=T0), Message(Role.BOT, evil),
             Message(Role.AGENT, evil, public=False), customer=customer)
    d = decision(reasons=(Reason(evil, evil, (Evidence(0, evil, 1.0, 1.0, evil),)),),
                 intent=evil, category=evil, language=evil)
    text, page = both(c, d, route=evil, suggestion=evil)
    assert evil not in page
    assert "<script" not in page.lower() and "<img" not in page.lower() and "onmouseover=\"" not in page
    assert html.escape(evil, quote=True) in page
    assert set(re.findall(r"</?([a-zA-Z0-9]+)", page)) <= ALLOWED_TAGS
    assert evil in text  # plain text is shown as typed, never interpreted


def test_long_transcript_keeps_head_and_tail_with_an_omission_line() -> None:
    msgs = [Message(Role.CUSTOMER if i % 2 else Role.BOT, f"message msg-{i:03d} about the order")
            for i in range(1, 121)]
    p = build_package(conv(*msgs), decision())
    assert p.total == 120 and len(p.transcript) == 35
    for doc in (render_text(p), render_html(p)):
        assert doc.count("… 85 earlier messages omitted …") == 1
        for kept in ("msg-001", "msg-005", "msg-091", "msg-120"):
            assert kept in doc
        for dropped in ("msg-006", "msg-050", "msg-090"):
            assert dropped not in doc
        assert doc.index("msg-005") < doc.index("earlier messages omitted") < doc.index("msg-091")


def test_a_huge_message_is_truncated() -> None:
    big = ("lorem ipsum " * 1000)[:9989] + "END-OF-TEXT"
    assert len(big) == 10_000
    p = build_package(conv(Message(Role.CUSTOMER, big)), decision())
    for doc in (render_text(p), render_html(p)):
        assert "… (truncated, 10000 characters)" in flat(doc)
        assert "END-OF-TEXT" not in doc
        assert len(doc) < 4000


def test_timestamps_appear_when_given_and_only_then() -> None:
    c = conv(Message(Role.CUSTOMER, "my invoice is wrong", at=T0), Message(Role.BOT, "Let me check."))
    text, page = both(c, decision())
    assert "#1 [2025-03-04 09:00 UTC] Customer:" in text
    assert "\n#2 Bot:\n" in text
    assert "<b>#1 Customer</b> <i>2025-03-04 09:00 UTC</i><br>" in page
    assert "<b>#2 Bot</b><br>Let me check." in page


def test_unknown_customer_fields_are_omitted() -> None:
    text, page = both(charged_twice(Customer(name="Ann Lee", plan="Pro")), decision(language=None))
    assert "- Name: Ann Lee" in text and "- Plan: Pro" in text
    assert "<b>Name:</b> Ann Lee" in page
    for unknown in ("Email", "Tier:", "Customer for", "Organization", "Timezone", "Language", "Churn risk",
                    "Tags", "Recent contacts"):
        assert unknown not in text and unknown not in page
    nobody, nobody_html = both(charged_twice(), decision())
    assert "\nCustomer:\n" not in nobody and "<h3>Customer</h3>" not in nobody_html


def test_known_customer_fields_and_recent_contacts_are_shown() -> None:
    customer = Customer(name="Ann Lee", email="ann@example.com", plan="Pro", tier="vip", tenure_days=420,
                        language="de", timezone="Europe/Berlin", organization="Acme", churn_risk=0.72,
                        tags=("eu", "annual"),
                        recent_contacts=(Contact("11", T0 - timedelta(days=30), "Login broken", "solved"),
                                         Contact("12", T0 - timedelta(days=6), "Refund missing", "open", True)))
    text, page = both(charged_twice(customer), decision())
    for shown in ("Email: ann@example.com", "Tier: vip", "Customer for: 420 days", "Organization: Acme",
                  "Timezone: Europe/Berlin", "Language: de", "Churn risk: 72%", "Tags: eu, annual"):
        assert shown in text
    assert "<b>Churn risk:</b> 72%" in page
    newer = "2025-02-26 (6 days ago) · #12 Refund missing · open · escalated"
    older = "2025-02-02 (30 days ago) · #11 Login broken · solved · not escalated"
    assert newer in text and older in text and text.index(newer) < text.index(older)
    assert html.escape(newer) in page


def test_marker_is_in_both_renderings() -> None:
    text, page = both(charged_twice(), decision())
    assert NOTE_MARKER == "[Baton handoff]"
    assert text.startswith(NOTE_MARKER)
    assert f"<b>{NOTE_MARKER}</b>" in page


def test_text_rendering_has_no_html_and_is_wrapped() -> None:
    c = charged_twice(Customer(name="Ann", tags=("vip",)))
    text = render_text(build_package(c, evaluate(c), route="Billing group", suggestion="Refund it."))
    assert not re.search(r"</?[a-zA-Z][^>]*>", text)
    assert "&lt;" not in text and "&gt;" not in text and "&amp;" not in text and "&quot;" not in text
    assert "Settings > Billing" in text
    assert "\n- Name: Ann" in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_offer_human_and_continue_still_render() -> None:
    c = charged_twice()
    offered = build_package(c, decision(action=Action.OFFER_HUMAN))
    assert offered.headline.startswith("Offered a human: billing dispute")
    assert "Why a human was offered:" in render_text(offered)
    cont = build_package(c, decision(action=Action.CONTINUE, reasons=(), intent=None,
                                     explanation="The bot can continue."))
    assert cont.headline.startswith("Bot continues — customer says “This is the third time")
    assert cont.headline.endswith("the bot can continue.")
    text, page = render_text(cont), render_html(cont)
    assert "Why escalated" not in text and "Why escalated" not in page
    assert ANGRY in flat(text) and "Transcript (3 messages)" in page


def test_route_and_suggestion_sections_only_when_given() -> None:
    text, page = both(charged_twice(), decision())
    for doc in (text, page):
        assert "Suggested resolution" not in doc and "Route" not in doc
    text, page = both(charged_twice(), decision(), route="Billing group — why: disputes go to tier 2",
                      suggestion="Refund the duplicate charge.")
    assert "Route:\nBilling group — why: disputes go to tier 2" in text
    assert "Suggested resolution:\nRefund the duplicate charge." in text
    assert "<h3>Route</h3><p>Billing group — why: disputes go to tier 2</p>" in page


def test_sentiment_trajectory_in_words_and_numbers() -> None:
    text, page = both(charged_twice(), decision(sentiment=(0.0, -0.3, -0.8)))
    assert "Sentiment: neutral → negative → very negative (+0.00 → -0.30 → -0.80)" in text
    assert "<b>Sentiment:</b> neutral → negative → very negative (+0.00 → -0.30 → -0.80)" in page
    assert build_package(charged_twice(), decision(sentiment=())).sentiment is None


def test_bot_attempts_are_condensed_to_the_last_few() -> None:
    said = ["Check the FAQ.", "Have you tried restarting?", "Clear your cache.", "Have you tried restarting?",
            "Try another browser.", "Have you tried restarting?"]
    c = conv(*(m for s in said for m in (Message(Role.CUSTOMER, "it still does not work"), Message(Role.BOT, s))))
    p = build_package(c, decision())
    assert p.bot_tried == ("Clear your cache.", "Try another browser.", "Have you tried restarting? (said 3 times)")
    assert "- Have you tried restarting? (said 3 times)" in render_text(p)


def test_roles_are_labelled_and_private_messages_marked() -> None:
    c = conv(Message(Role.SYSTEM, "Chat started"), Message(Role.CUSTOMER, "hi there, my card was declined"),
             Message(Role.AGENT, "internal: check Stripe", public=False))
    text, page = both(c, decision())
    assert "#1 System:" in text and "#2 Customer:" in text and "#3 Agent (private):" in text
    assert "<b>#3 Agent (private)</b>" in page


def test_package_is_immutable() -> None:
    p = build_package(charged_twice(), decision())
    assert isinstance(p, ContextPackage)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.headline = "changed"  # type: ignore[misc]


def test_bidi_controls_cannot_reorder_what_the_agent_reads() -> None:
    c = conv(Message(Role.CUSTOMER, "refund \u202eredro ym lecnac\u202c please, I want a human"))
    for doc in both(c, decision()):
        assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]", doc)
        assert "[U+202E]" in doc and "[U+202C]" in doc


def test_the_note_reads_like_a_person_wrote_it() -> None:
    c = conv(Message(Role.CUSTOMER, "I already tried that, it still charges me twice. I want to talk to a human"),
             customer=Customer(name="Ann", tenure_days=0))
    d = evaluate(c)
    text, page = both(c, d)
    assert "Transcript (1 message)" in text and "1 messages" not in text
    assert "Customer for: less than a day" in text and "0 days" not in text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text)  # no internal codes such as explicit_request
    assert "((" not in text and "))" not in text
    sentiment = next(line for line in text.splitlines() if line.startswith("Sentiment:"))
    unhappy = any(r.code == "sentiment" for r in d.reasons)
    assert sentiment.startswith("Sentiment: frustrated" if unhappy else "Sentiment: no frustration detected") or \
        sentiment.startswith("Sentiment: unhappy")


def test_an_escalation_lists_only_findings_that_fired() -> None:
    d = evaluate(conv(Message(Role.CUSTOMER, "I already tried that"),
                      Message(Role.CUSTOMER, "Can I talk to a human please?")))
    assert d.action is Action.ESCALATE
    for r in d.reasons:
        finding = next(f for f in d.findings if r.code.startswith(f.signal))
        assert finding.fired, r.code


def test_quotes_are_cut_at_word_boundaries() -> None:
    from integration.core.engine.text import quote

    text = "I already tried restarting the router twice yesterday evening and it still drops"
    start = text.index("restarting")
    q = quote(text, start, start + len("restarting"), width=30)
    assert q.startswith("…") and q.endswith("…")
    inner = q.strip("…")
    assert text.find(inner) >= 0 and text[text.find(inner) - 1] == " "
    assert text[text.find(inner) + len(inner)] == " "
