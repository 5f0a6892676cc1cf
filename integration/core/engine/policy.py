"""Combine the signals' findings with the installation's rules into one explainable decision."""
from __future__ import annotations

from integration.core.model import Action, Conversation, Decision, Finding, Priority, Reason
from integration.core.rules import Rules, SignalRule

_ORDER = ("explicit_request", "risky_topic", "sentiment", "loop", "segment", "repeat_contact",
          "bot_confidence", "language", "model")
_RANK = {signal: i for i, signal in enumerate(_ORDER)}
_ACTION = {"escalate": Action.ESCALATE, "offer_human": Action.OFFER_HUMAN}


def _rule(finding: Finding, rules: Rules) -> SignalRule:
    if finding.signal == "risky_topic":
        return rules.topics[finding.category]  # type: ignore[index,return-value]
    return getattr(rules, finding.signal)


def decide(conversation: Conversation, findings: list[Finding], rules: Rules, language: str | None) -> Decision:
    findings = sorted(findings, key=lambda f: _RANK[f.signal])
    reasons: list[Reason] = []
    below_threshold: set[str] = set()  # reasons that only offer a person (their finding did not fire)
    actions: list[Action] = []
    acting: list[str] = []  # the signals whose reasons act (escalate or offer a person)
    priority = Priority.NORMAL
    tier = 1
    category: str | None = None
    for f in findings:
        rule = _rule(f, rules)
        action = rule.action
        if f.signal == "sentiment" and not f.fired:
            if f.score < rules.sentiment.offer_threshold or action != "escalate":
                continue
            action = "offer_human"  # unhappy but not yet angry: let the customer choose
            below_threshold.add(f.signal)
        elif not f.fired or action == "ignore":
            continue
        reasons.append(Reason(f.signal if f.signal != "risky_topic" else f"risky_topic:{f.category}", f.summary, f.evidence))
        if action in _ACTION:
            actions.append(_ACTION[action])
            acting.append(f.signal)
            tier = max(tier, rule.tier)
            if category is None and f.category:
                category = f.category
        priority = max(priority, Priority(rule.priority), key=lambda p: p.rank)

    sentiment = next(f for f in findings if f.signal == "sentiment")
    refusal = next((f for f in findings if f.signal == "explicit_request" and f.details.get("refused")), None)
    if refusal is not None:
        # the customer said they do not want a person: no signal overrules that
        actions, reasons = [], []
    elif acting and set(acting) == {"model"} and any(
            f.signal == "explicit_request" and f.details.get("negated") for f in findings):
        # a short message whose only cue is a person or a transfer under a negation ("no eres humano,
        # ¿verdad?", a refusal the grammar could not parse): the learned signal alone never escalates it
        actions, reasons = [], [r for r in reasons if r.code != "model"]
    if Action.ESCALATE in actions:
        action = Action.ESCALATE
        reasons = [r for r in reasons if r.code not in below_threshold]  # an escalation lists what fired
    elif Action.OFFER_HUMAN in actions:
        action = Action.OFFER_HUMAN
    else:
        action = Action.CONTINUE
    if action is not Action.CONTINUE and sentiment.score >= 0.8:
        priority = max(priority, Priority.HIGH, key=lambda p: p.rank)  # very angry customers wait less
    if category is None and reasons and action is not Action.CONTINUE:
        category = "frustration" if reasons[0].code == "sentiment" else reasons[0].code

    topic = next((f for f in findings if f.signal == "risky_topic"), None)
    if action is Action.CONTINUE:
        # nothing is routed, but what the conversation is about is still known: the analytics count a
        # conversation the bot kept under its topic, as they count a handed-over one
        category = topic.category if topic else None
    intent = rules.topics[topic.category].label if topic else None
    return Decision(
        conversation_id=conversation.id,
        action=action,
        reasons=tuple(reasons),
        priority=priority if action is not Action.CONTINUE else Priority.NORMAL,
        category=category,
        tier=tier if action is not Action.CONTINUE else 1,
        intent=intent,
        language=language,
        sentiment=tuple(sentiment.details.get("trajectory", ())),
        findings=tuple(findings),
        explanation=_explain(action, reasons, findings) if refusal is None else
        f"The bot continues: the customer said they do not want a person (“{refusal.evidence[0].quote}”).",
    )


def topic_of(decision: Decision) -> str | None:
    """What the conversation is about, whether or not it was handed over: the decision's category
    when it is a topic of the taxonomy, else the first topic the engine found (a track-only topic,
    ``"action": "ignore"``, included); None when it found none. A handoff's category can be a signal
    (``frustration``, ``explicit_request``) that says why, not what about: the analytics count
    conversations by this, and by the signals separately."""
    topics = [f.category for f in decision.findings if f.signal == "risky_topic" and f.category]
    if decision.category in topics:
        return decision.category
    return topics[0] if topics else None


def _explain(action: Action, reasons: list[Reason], findings: list[Finding]) -> str:
    if action is Action.ESCALATE:
        return "Hand over to a person: " + " ".join(r.summary for r in reasons)
    if action is Action.OFFER_HUMAN:
        return "Offer the customer a person: " + " ".join(r.summary for r in reasons)
    checked = " ".join(f.summary for f in findings if f.signal in ("explicit_request", "sentiment", "loop"))
    return "The bot can continue. " + checked
