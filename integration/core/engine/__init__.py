"""The escalation engine: pure functions from a conversation and rules to a decision.

Each signal lives in its own module and returns :class:`~integration.core.model.Finding` objects with
evidence; :mod:`.policy` combines them. No I/O happens here.
"""
from __future__ import annotations

from integration.core.engine import classifier, customer, explicit, language, loop, policy, sentiment, topic
from integration.core.model import Conversation, Decision
from integration.core.rules import DEFAULT_RULES, Rules


def evaluate(conversation: Conversation, rules: Rules = DEFAULT_RULES,
             model: classifier.LinearModel | None = None) -> Decision:
    """Decide for the conversation as it stands after its last message. ``model`` overrides the
    shipped classifier (cross-validation uses it)."""
    lang = language.detect(conversation, rules.language)
    mood = sentiment.detect(conversation, rules.sentiment.threshold)
    upset = mood.score >= rules.sentiment.offer_threshold
    findings = [
        explicit.detect(conversation),
        mood,
        *topic.detect(conversation, rules.topics, carry_over=upset),
        loop.detect(conversation, rules.loop),
        customer.segment(conversation, rules.segment),
        customer.repeat_contact(conversation, rules.repeat_contact),
        customer.bot_confidence(conversation, rules.bot_confidence),
        lang,
    ]
    if rules.model.enabled:
        findings.append(classifier.detect(conversation, rules.model, findings, model))
    return policy.decide(conversation, findings, rules, lang.details.get("language"))


__all__ = ["evaluate"]
