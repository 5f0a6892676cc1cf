"""Thirty days of plausible support history for the demo, so the analytics page, the suggested
resolutions and the calibration review have something true to show.

Every conversation is decided by the real engine under the installation's rules; what happened
afterwards (assignment, first reply, solving, reopening, satisfaction, the agents' verdicts and
resolution types, their answers) is drawn from simple distributions per intent: refunds are
resolved in hours, how-to questions in minutes (some of those handoffs were not needed), a few
conversations the bot kept turn out badly (the customer asked for a person later, reopened, or
rated badly), and human-only email tickets give the baseline. Written straight to the store.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from integration.core.codec import conversation_to_json
from integration.core.engine import evaluate
from integration.core.engine.policy import topic_of
from integration.core.model import RESOLUTION_TYPES, Action, Conversation, Customer, Message, Role
from integration.core.rules import load_rules
from integration.core.suggest import Index, customer_words, suggested_before
from integration.service.store import Store, decisions
from integration.service.suggestions import case_from_row


@dataclass(frozen=True)
class Intent:
    asks: tuple[str, ...]  # what customers write
    bot: str  # what the bot answers
    answer: str  # how an agent resolved it
    resolution: str  # the resolution type agents pick
    minutes: tuple[float, float]  # time from handoff to solved, low and high
    good: float  # share of good ratings
    needless: float = 0.0  # share of its handoffs agents judge not needed (the bot could have answered)
    weight: int = 1  # how common it is among the intents


INTENTS = (
    Intent(("I was charged twice for order {n}, please refund the duplicate",
            "My card was debited two times for the same invoice {n}",
            "Double charge on my account this month, order {n}"),
           "I can see your recent payments. Duplicate charges are usually reversed automatically within 5 days.",
           "Refunded the duplicate charge for order {n}; it shows on the card in 3-5 business days.",
           "refund issued", (60, 600), 0.8),
    # a refund *status* question: the refund topic hands it over, and an agent answers it from the docs
    # in minutes, so agents mark these handoffs not needed (the calibration review's offer-instead case)
    Intent(("When will I get my refund for order {n}?", "How long does a refund take to show on my card?",
            "I was told I'd get a refund for order {n}, when does it arrive?"),
           "Refunds are sent back to the card you paid with.",
           "Refunds show on the card 5-10 business days after we issue them; the one for order {n} went out on Monday.",
           "how-to answered", (2, 9), 0.9, needless=0.9, weight=2),
    Intent(("How do I export my invoices as PDF?", "Where can I download the invoice for order {n}?",
            "I can't find how to get a PDF of my bill"),
           "You can find your invoices under Billing → History.",
           "Showed the Export button in Billing → History → ⋯ → Download PDF.", "how-to answered", (2, 15), 0.9,
           needless=0.6),
    Intent(("How do I add a teammate to my workspace?", "Can I invite a colleague to our account?"),
           "Admins can invite people from Settings → Team.",
           "Sent the invite from Settings → Team → Invite; the teammate accepts it from the email within 7 days.",
           "how-to answered", (2, 12), 0.9, needless=0.6),
    Intent(("How can I change the email address on my account?", "How do I turn on two-factor authentication?"),
           "You can change your account under Settings → Profile and Settings → Security.",
           "Walked them through Settings → Security → Two-factor and Profile → Email → Edit.", "how-to answered",
           (3, 14), 0.9, needless=0.6),
    Intent(("Someone logged into my account from another country, I think I was hacked",
            "I got a password reset email I never asked for and now I can't log in"),
           "For your security, please reset your password from the login page.",
           "Locked the account, reset the sessions and 2FA, confirmed the owner by email.", "account change",
           (20, 180), 0.7),
    Intent(("The app is down again, nothing loads since this morning", "Your site shows a 502 error for everyone here"),
           "Let me check our status page for you.", "Confirmed the incident on the status page; fixed at 14:20 UTC.",
           "bug or incident", (30, 300), 0.5),
    Intent(("I want to cancel my subscription and get the rest of the year back",
            "Please close my account, I'm moving to another provider"),
           "You can cancel any time from Settings → Plan.", "Cancelled the plan and refunded the unused months pro rata.",
           "policy exception", (30, 400), 0.6),
    Intent(("Can I talk to a human please? Your bot doesn't understand me", "I want to speak to a real person now"),
           "I'm here to help! Could you tell me more?", "Answered the question about the delivery date of order {n}.",
           "how-to answered", (5, 60), 0.85, needless=0.3),
)
ROUTINE = ("What are your opening hours?", "Do you ship to Canada?", "How long does delivery take?",
           "Can I change my delivery address?", "Is there a student discount?")
# what customers answer when the bot's first answer did not do it: mostly short and mild (the bot's
# model reads some of them as needing a person, though a how-to answer settles them), some angry
FOLLOW_UPS = ("That doesn't help, I already tried that.", "Hmm, that's not what I asked.", "No, that's not it.",
              "Still doesn't work.", "Doesn't work.", "That's not working for me.", "Nope, still stuck.",
              "That's not the answer I need.", "I don't see it there.", "Where exactly? I can't find it.",
              "I can't see that option.", "Sorry, I still don't get it.", "There's no such button.",
              "This is useless, I've asked three times now!!!", "Ugh, this is so frustrating.")


def seed(store: Store, inst_id: str, now: datetime, agents: list[str], days: int = 30, per_day: int = 14,
         rng: random.Random | None = None) -> int:
    """Write ``days`` of history for the installation; returns how many conversations. Each handoff
    then gets the resolution type its note would have suggested (the handoffs solved before it, as
    the pipeline looks them up), for the suggestion hit rate."""
    rng = rng or random.Random(inst_id)
    inst = store.installations.get(inst_id)
    rules = load_rules(inst.rules if inst else None, stored=True)
    count = 0
    handoffs: list[tuple[str, str, datetime]] = []
    for day in range(days, 0, -1):
        for _ in range(rng.randint(per_day - 4, per_day + 4)):
            count += 1
            at = now - timedelta(days=day, minutes=rng.randint(0, 24 * 60 - 1))
            handoff = _one(store, inst_id, rules, rng, f"h{count:05d}", at, agents, now)
            if handoff:
                handoffs.append(handoff)
    _suggestions(store, inst_id, handoffs)
    return count


def _suggestions(store: Store, inst_id: str, handoffs: list[tuple[str, str, datetime]]) -> None:
    """What each handoff's note suggested when it was written: the most similar cases solved before
    the handoff (never itself, solved later), as the pipeline's suggester finds them."""
    index = Index(case_from_row(r) for r in store.outcomes.resolved_escalations(inst_id))
    for ticket, words, handed in handoffs:
        suggested = suggested_before(index, words, handed)
        if suggested:
            store.outcomes.record(inst_id, ticket, {"suggested": suggested}, handed)


def _decide(conversation: Conversation, rules: Any) -> tuple[Conversation, Any]:
    """Decide as Baton does, after each customer message: the first handoff ends it (a person takes
    over), else the decision on the whole conversation."""
    for i, m in enumerate(conversation.messages):
        if m.role is not Role.CUSTOMER:
            continue
        upto = replace(conversation, messages=conversation.messages[:i + 1], as_of=m.at)
        decision = evaluate(upto, rules)
        if decision.action is Action.ESCALATE:
            return upto, decision
    return conversation, evaluate(conversation, rules)


def _one(store: Store, inst_id: str, rules: Any, rng: random.Random, ticket: str, at: datetime, agents: list[str],
         now: datetime) -> tuple[str, str, datetime] | None:
    """One conversation and what became of it; a handoff's (ticket, customer's words, when)."""
    n = rng.randint(1000, 9999)
    if rng.random() < 0.15:  # an email ticket no bot touched: the human-only baseline
        intent = rng.choices(INTENTS, [i.weight for i in INTENTS])[0]
        messages = (Message(Role.CUSTOMER, rng.choice(intent.asks).format(n=n), at),)
        conversation = Conversation(ticket, messages, Customer(id=f"c{n}"), channel="email", as_of=at)
        _human_only(store, inst_id, ticket, conversation, intent, rng, at, agents, n)
        return None
    routine = rng.random() < 0.5
    intent = None if routine else rng.choices(INTENTS, [i.weight for i in INTENTS])[0]
    first = rng.choice(ROUTINE) if intent is None else rng.choice(intent.asks).format(n=n)
    messages = [Message(Role.CUSTOMER, first, at), Message(Role.BOT, intent.bot if intent else "Here is the answer.",
                                                            at + timedelta(seconds=20))]
    if intent is not None and rng.random() < 0.6:
        messages.append(Message(Role.CUSTOMER, rng.choice(FOLLOW_UPS), at + timedelta(minutes=1)))
    conversation = Conversation(ticket, tuple(messages), Customer(id=f"c{n}", tier="vip" if rng.random() < 0.05 else None),
                                subject=first[:60], channel="messaging", as_of=at + timedelta(minutes=1))
    conversation, decision = _decide(conversation, rules)
    _decision(store, inst_id, ticket, conversation, decision, at)
    seen: dict[str, Any] = {"channel": "messaging", "bot_involved": True, "category": topic_of(decision),
                            "reasons": sorted({r.code for r in decision.reasons}),
                            "query_text": customer_words(conversation)}
    if decision.action is not Action.ESCALATE:
        if intent is not None and rng.random() < 0.35:  # kept with the bot, and it went wrong
            trouble = rng.choice(("asked_for_human_later", "reopens", "csat"))
            seen.update({"asked_for_human_later": True} if trouble == "asked_for_human_later" else
                        {"reopens": 1} if trouble == "reopens" else {"csat": 0.0, "csat_at": at + timedelta(hours=2)})
        else:  # the bot answered and the conversation closed
            seen.update(solved_at=at + timedelta(minutes=rng.uniform(2, 30)))
            if rng.random() < 0.3:
                seen.update(csat=1.0 if rng.random() < 0.85 else 0.0, csat_at=at + timedelta(hours=1))
        store.outcomes.record(inst_id, ticket, seen, at)
        return None
    intent = intent or rng.choice(INTENTS)
    handoff = at + timedelta(minutes=1)
    agent = rng.choice(agents) if agents else None
    assigned = handoff + timedelta(minutes=rng.uniform(0.5, 8))
    replied = assigned + timedelta(minutes=rng.lognormvariate(1.5, 0.7))
    solved = handoff + timedelta(minutes=rng.uniform(*intent.minutes))
    seen.update(escalated=True, escalated_at=handoff, assigned_at=assigned, assignee_id=agent,
                first_agent_reply_at=replied, answer_text=intent.answer.format(n=n))
    # the resolution type the agent chose: mostly the intent's own, sometimes another one
    resolution = intent.resolution if rng.random() < 0.9 else rng.choice(RESOLUTION_TYPES)
    if solved < now:
        seen.update(solved_at=max(solved, replied), reopens=1 if rng.random() < 0.06 else 0)
        if rng.random() < 0.7:  # answered with a macro that tags the resolution type
            seen.update(resolution=resolution)
        if rng.random() < 0.45:
            seen.update(csat=1.0 if rng.random() < intent.good else 0.0, csat_at=solved + timedelta(hours=1))
    store.outcomes.record(inst_id, ticket, seen, at)
    if solved < now and rng.random() < 0.7:  # agents say how it went from the panel
        verdict = ("not_needed" if resolution == intent.resolution and rng.random() < intent.needless else
                   "too_late" if rng.random() < 0.08 else "right")
        store.decisions.record_feedback(inst_id, ticket, author_id=agent or "0", author_name="Demo agent", verdict=verdict,
                                        resolution=resolution, missing_knowledge=None)
    return ticket, seen["query_text"], handoff


def _human_only(store: Store, inst_id: str, ticket: str, conversation: Conversation, intent: Intent,
                rng: random.Random, at: datetime, agents: list[str], n: int) -> None:
    assigned = at + timedelta(minutes=rng.uniform(5, 120))
    replied = assigned + timedelta(minutes=rng.lognormvariate(2.0, 0.8))
    seen: dict[str, Any] = {"channel": "email", "assigned_at": assigned, "assignee_id": rng.choice(agents) if agents else None,
                            "first_agent_reply_at": replied, "solved_at": replied + timedelta(minutes=rng.uniform(*intent.minutes)),
                            "query_text": conversation.messages[0].text, "answer_text": intent.answer.format(n=n)}
    if rng.random() < 0.5:
        seen.update(csat=1.0 if rng.random() < intent.good - 0.05 else 0.0, csat_at=replied + timedelta(hours=3))
    store.outcomes.record(inst_id, ticket, seen, at)


def _decision(store: Store, inst_id: str, ticket: str, conversation: Conversation, decision: Any, at: datetime) -> None:
    reasons = [{"code": r.code, "summary": r.summary,
                "evidence": [{"message_index": e.message_index, "quote": e.quote, "score": e.score,
                              "threshold": e.threshold, "note": e.note} for e in r.evidence]} for r in decision.reasons]
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst_id, ticket_id=ticket, action=decision.action.value, priority=decision.priority.value,
            category=decision.category, tier=decision.tier, reasons=reasons, explanation=decision.explanation,
            created_at=at, conversation=conversation_to_json(replace(conversation, as_of=at))))
