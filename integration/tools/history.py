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
from integration.core.model import Action, Conversation, Customer, Message, Role
from integration.core.rules import load_rules
from integration.core.suggest import customer_words
from integration.service.store import Store, decisions


@dataclass(frozen=True)
class Intent:
    asks: tuple[str, ...]  # what customers write
    bot: str  # what the bot answers
    answer: str  # how an agent resolved it
    resolution: str  # the resolution type agents pick
    minutes: tuple[float, float]  # time from handoff to solved, low and high
    good: float  # share of good ratings


INTENTS = (
    Intent(("I was charged twice for order {n}, please refund the duplicate",
            "My card was debited two times for the same invoice {n}",
            "Double charge on my account this month, order {n}"),
           "I can see your recent payments. Duplicate charges are usually reversed automatically within 5 days.",
           "Refunded the duplicate charge for order {n}; it shows on the card in 3-5 business days.",
           "refund issued", (60, 600), 0.8),
    Intent(("How do I export my invoices as PDF?", "Where can I download the invoice for order {n}?",
            "I can't find how to get a PDF of my bill"),
           "You can find your invoices under Billing → History.",
           "Showed the Export button in Billing → History → ⋯ → Download PDF.", "how-to answered", (2, 15), 0.9),
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
           "how-to answered", (5, 60), 0.85),
)
ROUTINE = ("What are your opening hours?", "Do you ship to Canada?", "How long does delivery take?",
           "Can I change my delivery address?", "Is there a student discount?")


def seed(store: Store, inst_id: str, now: datetime, agents: list[str], days: int = 30, per_day: int = 14,
         rng: random.Random | None = None) -> int:
    """Write ``days`` of history for the installation; returns how many conversations."""
    rng = rng or random.Random(inst_id)
    inst = store.installation(inst_id)
    rules = load_rules(inst.rules if inst else None)
    count = 0
    for day in range(days, 0, -1):
        for _ in range(rng.randint(per_day - 4, per_day + 4)):
            count += 1
            at = now - timedelta(days=day, minutes=rng.randint(0, 24 * 60 - 1))
            _one(store, inst_id, rules, rng, f"h{count:05d}", at, agents, now)
    return count


def _one(store: Store, inst_id: str, rules: Any, rng: random.Random, ticket: str, at: datetime, agents: list[str],
         now: datetime) -> None:
    n = rng.randint(1000, 9999)
    if rng.random() < 0.15:  # an email ticket no bot touched: the human-only baseline
        intent = rng.choice(INTENTS)
        messages = (Message(Role.CUSTOMER, rng.choice(intent.asks).format(n=n), at),)
        conversation = Conversation(ticket, messages, Customer(id=f"c{n}"), channel="email", as_of=at)
        _human_only(store, inst_id, ticket, conversation, intent, rng, at, agents, n)
        return
    routine = rng.random() < 0.6
    intent = None if routine else rng.choice(INTENTS)
    first = rng.choice(ROUTINE) if intent is None else rng.choice(intent.asks).format(n=n)
    messages = [Message(Role.CUSTOMER, first, at), Message(Role.BOT, intent.bot if intent else "Here is the answer.",
                                                            at + timedelta(seconds=20))]
    if intent is not None and rng.random() < 0.5:
        messages.append(Message(Role.CUSTOMER, "That doesn't help, I already tried that.", at + timedelta(minutes=1)))
    conversation = Conversation(ticket, tuple(messages), Customer(id=f"c{n}", tier="vip" if rng.random() < 0.05 else None),
                                subject=first[:60], channel="messaging", as_of=at + timedelta(minutes=1))
    decision = evaluate(conversation, rules)
    _decision(store, inst_id, ticket, conversation, decision, at)
    seen: dict[str, Any] = {"channel": "messaging", "bot_involved": True, "category": decision.category,
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
        store.record_outcome(inst_id, ticket, seen, at)
        return
    intent = intent or rng.choice(INTENTS)
    handoff = at + timedelta(minutes=1)
    agent = rng.choice(agents) if agents else None
    assigned = handoff + timedelta(minutes=rng.uniform(0.5, 8))
    replied = assigned + timedelta(minutes=rng.lognormvariate(1.5, 0.7))
    solved = handoff + timedelta(minutes=rng.uniform(*intent.minutes))
    seen.update(escalated=True, escalated_at=handoff, assigned_at=assigned, assignee_id=agent,
                first_agent_reply_at=replied, answer_text=intent.answer.format(n=n))
    if solved < now:
        seen.update(solved_at=max(solved, replied), reopens=1 if rng.random() < 0.06 else 0)
        if rng.random() < 0.45:
            seen.update(csat=1.0 if rng.random() < intent.good else 0.0, csat_at=solved + timedelta(hours=1))
    store.record_outcome(inst_id, ticket, seen, at)
    if solved < now and rng.random() < 0.7:  # agents say how it went from the panel
        fast_howto = intent.resolution == "how-to answered" and (solved - handoff) <= timedelta(minutes=10)
        verdict = "not_needed" if fast_howto and rng.random() < 0.7 else ("too_late" if rng.random() < 0.08 else "right")
        store.record_feedback(inst_id, ticket, author_id=agent or "0", author_name="Demo agent", verdict=verdict,
                              resolution=intent.resolution, missing_knowledge=None)


def _human_only(store: Store, inst_id: str, ticket: str, conversation: Conversation, intent: Intent,
                rng: random.Random, at: datetime, agents: list[str], n: int) -> None:
    assigned = at + timedelta(minutes=rng.uniform(5, 120))
    replied = assigned + timedelta(minutes=rng.lognormvariate(2.0, 0.8))
    seen: dict[str, Any] = {"channel": "email", "assigned_at": assigned, "assignee_id": rng.choice(agents) if agents else None,
                            "first_agent_reply_at": replied, "solved_at": replied + timedelta(minutes=rng.uniform(*intent.minutes)),
                            "query_text": conversation.messages[0].text, "answer_text": intent.answer.format(n=n)}
    if rng.random() < 0.5:
        seen.update(csat=1.0 if rng.random() < intent.good - 0.05 else 0.0, csat_at=replied + timedelta(hours=3))
    store.record_outcome(inst_id, ticket, seen, at)


def _decision(store: Store, inst_id: str, ticket: str, conversation: Conversation, decision: Any, at: datetime) -> None:
    reasons = [{"code": r.code, "summary": r.summary,
                "evidence": [{"message_index": e.message_index, "quote": e.quote, "score": e.score,
                              "threshold": e.threshold, "note": e.note} for e in r.evidence]} for r in decision.reasons]
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst_id, ticket_id=ticket, action=decision.action.value, priority=decision.priority.value,
            category=decision.category, tier=decision.tier, reasons=reasons, explanation=decision.explanation,
            created_at=at, conversation=conversation_to_json(replace(conversation, as_of=at))))
